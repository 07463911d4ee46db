"""The warehouse: Parquet files per asset, a ledger of materializations, and DuckDB views over both."""

from asasql_resources.warehouse.home import Home, resolve_home
from asasql_resources.warehouse.io_manager import WarehouseIOManager
from asasql_resources.warehouse.ledger import MaterializationRecord, append_record
from asasql_resources.warehouse.query import connect_readonly
from asasql_resources.warehouse.store import DamagedFile, content_hash, read_frame, write_frame
from asasql_resources.warehouse.views import rebuild_views

__all__ = [
    "DamagedFile",
    "Home",
    "MaterializationRecord",
    "WarehouseIOManager",
    "append_record",
    "connect_readonly",
    "content_hash",
    "read_frame",
    "rebuild_views",
    "resolve_home",
    "write_frame",
]
