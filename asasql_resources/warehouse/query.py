"""Short read-only queries on the warehouse, for the CLI and notebooks: views only, no file access beyond them."""

from pathlib import Path

import duckdb

from asasql_resources.warehouse.home import Home
from asasql_resources.warehouse.segments import segment_tables
from asasql_resources.warehouse.views import rebuild_views


class NoWarehouse(FileNotFoundError):
    """A home, or its warehouse, that does not exist (a reader never creates one)."""


def readable_folders(home: Home) -> list[str]:
    """The folders whose Parquet files the views read: the asset files and the segment tables."""
    folders = [home.parquet, *(Path(folder) for folder, _ in segment_tables(home).values())]
    return [f"{folder}/" for folder in folders]


def lock_down(con: duckdb.DuckDBPyConnection, home: Home) -> duckdb.DuckDBPyConnection:
    """Limit a connection's file access to the views' folders, turn external access off, lock the configuration."""
    con.execute("SET allowed_directories = ?", [readable_folders(home)])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def open_warehouse(home: Home) -> duckdb.DuckDBPyConnection:
    """A locked-down read-only connection to an existing warehouse; NoWarehouse when there is none."""
    if not home.root.is_dir():
        raise NoWarehouse(f"no home at {home.root} (set --home or ASASQL_HOME; `asasql run` makes one)")
    if not home.warehouse.is_file():
        raise NoWarehouse(f"{home.root} has no warehouse.duckdb yet: nothing has been materialized there")
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return lock_down(con, home)
    except duckdb.Error:
        con.close()
        raise


def connect_readonly(home: Home) -> duckdb.DuckDBPyConnection:
    """A locked-down read-only connection to the warehouse; an empty warehouse is created first if none exists."""
    if not home.warehouse.exists():
        rebuild_views(home)
    return open_warehouse(home)
