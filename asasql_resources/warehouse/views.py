"""Rebuild `warehouse.duckdb`, a file of views only, into a temporary file and swap it in."""

import logging
import os
from pathlib import Path

import duckdb

from asasql_resources.warehouse.home import UNPARTITIONED, Home
from asasql_resources.warehouse.lock import home_lock
from asasql_resources.warehouse.secret import ensure_key_locked
from asasql_resources.warehouse.segments import empty_select_sql, readable_segments, segment_tables

LOG = logging.getLogger(__name__)


def _quote(path: Path) -> str:
    """A SQL string literal for a path."""
    return "'" + str(path).replace("'", "''") + "'"


def asset_view_sql(folder: Path) -> str | None:
    """The SELECT behind one asset's view, or None when the folder holds no Parquet file."""
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return None
    single = folder / f"{UNPARTITIONED}.parquet"
    if files == [single]:
        return f"SELECT * FROM read_parquet({_quote(single)})"
    pattern = _quote(folder / "*.parquet")
    key = r"regexp_extract(filename, '([^/]+)\.parquet$', 1)"
    return (
        f"SELECT * EXCLUDE (filename), {key} AS partition, "
        rf"TRY_CAST(regexp_extract({key}, '^round_(\d+)$', 1) AS INTEGER) AS round "
        f"FROM read_parquet({pattern}, filename = true, union_by_name = true) "
        f"WHERE {key} <> '{UNPARTITIONED}'"
    )


def view_definitions(home: Home) -> dict[str, str]:
    """Every view the warehouse should hold, by name."""
    views: dict[str, str] = {}
    if home.parquet.is_dir():
        for folder in sorted(p for p in home.parquet.iterdir() if p.is_dir()):
            sql = asset_view_sql(folder)
            if sql is not None:
                views[folder.name] = sql
    for name, (folder, schema) in segment_tables(home).items():
        has_segments = bool(readable_segments(Path(folder)))
        views[name] = (
            f"SELECT * FROM read_parquet({_quote(Path(folder) / '*.parquet')}) ORDER BY created_at"
            if has_segments
            else empty_select_sql(schema)
        )
    return views


def rebuild_views(home: Home) -> list[str]:
    """Write all views into a fresh DuckDB file and swap it in with os.replace; return the names of those made.

    A view whose files cannot be read (a damaged Parquet file) is left out with a warning, so that one bad file
    never fails the materialization of another asset; it comes back once its asset is written again. A home
    without a secret gets one first (see `ensure_key_locked`).
    """
    with home_lock(home):
        ensure_key_locked(home)
        for leftover in home.root.glob(".warehouse.*.duckdb.tmp*"):
            leftover.unlink(missing_ok=True)
        temporary = home.root / f".warehouse.{os.getpid()}.duckdb.tmp"
        made = []
        try:
            con = duckdb.connect(str(temporary))
            try:
                for name, sql in view_definitions(home).items():
                    try:
                        con.execute(f'CREATE VIEW "{name}" AS {sql}')
                    except duckdb.Error as error:
                        LOG.warning("view %s is left out of %s: %s", name, home.warehouse, error)
                        continue
                    made.append(name)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            os.replace(temporary, home.warehouse)
        finally:
            temporary.unlink(missing_ok=True)
            Path(f"{temporary}.wal").unlink(missing_ok=True)
        return made
