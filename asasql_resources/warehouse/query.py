"""Short read-only queries on the warehouse, for the CLI and notebooks."""

import duckdb

from asasql_resources.warehouse.home import Home
from asasql_resources.warehouse.views import rebuild_views


def connect_readonly(home: Home) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse; an empty warehouse is created first if none exists."""
    if not home.warehouse.exists():
        rebuild_views(home)
    return duckdb.connect(str(home.warehouse), read_only=True)
