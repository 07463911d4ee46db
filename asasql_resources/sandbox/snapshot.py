"""Copies a connection's tables into a DuckDB file, so that a worker process can attach them."""

from __future__ import annotations

from pathlib import Path

import duckdb

_BATCH_ROWS = 65_536


def snapshot_tables(con: duckdb.DuckDBPyConnection, target: Path) -> Path:
    """Write every table of `con`'s current database into a new DuckDB file at `target`; return it."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables()"
        " WHERE database_name = current_database() AND NOT internal ORDER BY ALL"
    ).fetchall()
    with duckdb.connect(str(target)) as out:
        for schema, table in tables:
            out.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            # Arrow batches stream the rows across without holding the table twice in memory.
            reader = con.sql(f"FROM {_quote(schema)}.{_quote(table)}").to_arrow_reader(_BATCH_ROWS)
            out.register("snapshot_source", reader)
            try:
                out.execute(f"CREATE TABLE {_quote(schema)}.{_quote(table)} AS FROM snapshot_source")
            finally:
                out.unregister("snapshot_source")
    return target


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
