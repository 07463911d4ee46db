"""The warehouse: Parquet files per asset, a ledger of materializations, and DuckDB views over both."""

from asasql_resources.warehouse.home import Home, UnsafeName, check_name, resolve_home
from asasql_resources.warehouse.io_manager import WarehouseIOManager
from asasql_resources.warehouse.keys import BadSecret
from asasql_resources.warehouse.ledger import MaterializationRecord, append_record
from asasql_resources.warehouse.query import NoWarehouse, connect_readonly, open_warehouse
from asasql_resources.warehouse.secret import ensure_key
from asasql_resources.warehouse.store import DamagedFile, content_hash, read_frame, write_frame
from asasql_resources.warehouse.views import rebuild_views

__all__ = [
    "BadSecret",
    "DamagedFile",
    "Home",
    "MaterializationRecord",
    "NoWarehouse",
    "UnsafeName",
    "WarehouseIOManager",
    "append_record",
    "check_name",
    "connect_readonly",
    "content_hash",
    "ensure_key",
    "open_warehouse",
    "read_frame",
    "rebuild_views",
    "resolve_home",
    "write_frame",
]
