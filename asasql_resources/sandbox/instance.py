"""Builds the locked DuckDB instance that untrusted SQL runs on: a database file attached read-only, or synthesized tables."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
from sqlglot import exp
from sqlglot.errors import SqlglotError

from asasql_resources.sandbox.worker import attach_read_only, lockdown_statements

MIN_SYNTHETIC_ROWS = 1
_MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", re.ASCII)
_INT64 = range(-(2**63), 2**63)


def build_instance(
    database_path: Path | None,
    catalog: pl.DataFrame,
    *,
    rows_per_table: int = 24,
    seed: int = 0,
    memory_limit: str = "512MB",
) -> duckdb.DuckDBPyConnection:
    """Return a locked `:memory:` connection on the domain's tables (the file attached read-only, or synthesized)."""
    if rows_per_table < MIN_SYNTHETIC_ROWS:
        raise ValueError(f"rows_per_table must be at least {MIN_SYNTHETIC_ROWS}, got {rows_per_table}")
    con = duckdb.connect(":memory:")
    try:
        # Before any allocation: once the default .tmp has been used it cannot be switched off.
        con.execute("SET temp_directory = ''")
        if database_path is None:
            synthesize_tables(con, catalog, rows_per_table=rows_per_table, seed=seed)
        else:
            attach_database(con, Path(database_path))
        lock_down(con, memory_limit)
    except BaseException:
        con.close()
        raise
    return con


def attach_database(con: duckdb.DuckDBPyConnection, database_path: Path) -> None:
    """Attach the file read-only as the default catalog: read in place, so a file of any size works."""
    if not database_path.is_file():
        raise FileNotFoundError(f"no database file at {database_path}")
    attach_read_only(con, str(database_path))


def synthesize_tables(con: duckdb.DuckDBPyConnection, catalog: pl.DataFrame, *, rows_per_table: int, seed: int) -> None:
    """Create one table per catalog table_name, filled with seeded draws from the possible values."""
    for table, columns in _catalog_tables(catalog).items():
        names = list(columns)
        types = [_column_type(con, data_type, values) for data_type, values in columns.values()]
        con.execute(
            f"CREATE TABLE {_quote(table)} ("
            + ", ".join(f"{_quote(n)} {t}" for n, t in zip(names, types, strict=True))
            + ")"
        )
        draws = [
            _draw(values, rows_per_table, random.Random(f"{seed}:{table}:{name}"))
            for name, (_, values) in columns.items()
        ]
        placeholders = ", ".join(["(" + ", ".join("?" * len(names)) + ")"] * rows_per_table)
        casts = ", ".join(f"TRY_CAST(v{i} AS {t})" for i, t in enumerate(types))
        aliases = ", ".join(f"v{i}" for i in range(len(names)))
        params = [draw[row] for row in range(rows_per_table) for draw in draws]
        con.execute(f"INSERT INTO {_quote(table)} SELECT {casts} FROM (VALUES {placeholders}) AS v({aliases})", params)


def lock_down(con: duckdb.DuckDBPyConnection, memory_limit: str = "512MB") -> None:
    """Limit memory to `memory_limit` and threads to 1, cut off files, network, extensions and paths; lock it."""
    if not _MEMORY_LIMIT.fullmatch(memory_limit.strip()):
        raise ValueError(f"memory_limit must look like '512MB' or '1GiB', got {memory_limit!r}")
    for statement in lockdown_statements(memory_limit.strip()):
        con.execute(statement)


def infer_type(values: list[str]) -> str:
    """The DuckDB type of a column from its possible values: BIGINT, DOUBLE, DATE, ..., else VARCHAR."""
    if not values:
        return "VARCHAR"
    if all(v.strip().lower() in ("true", "false") for v in values):
        return "BOOLEAN"
    if all(_INT.fullmatch(v.strip()) and int(v) in _INT64 for v in values):
        return "BIGINT"
    if all(_NUMBER.fullmatch(v.strip()) for v in values):
        return "DOUBLE"
    if all(_DATE.fullmatch(v.strip()) and _parses(date.fromisoformat, v.strip()) for v in values):
        return "DATE"
    if all(_TIMESTAMP.fullmatch(v.strip()) and _parses(datetime.fromisoformat, v.strip()) for v in values):
        return "TIMESTAMP"
    return "VARCHAR"


def _catalog_tables(catalog: pl.DataFrame) -> dict[str, dict[str, tuple[str | None, list[str]]]]:
    """table -> column -> (data_type, possible values), in catalog order; later duplicates are dropped."""
    has_type = "data_type" in catalog.columns
    tables: dict[str, dict[str, tuple[str | None, list[str]]]] = {}
    table_keys: dict[str, str] = {}
    for row in catalog.iter_rows(named=True):
        table = table_keys.setdefault(str(row["table_name"]).casefold(), str(row["table_name"]))
        columns = tables.setdefault(table, {})
        column = str(row["column_name"])
        if column.casefold() in {c.casefold() for c in columns}:
            continue
        values = [str(v) for v in (row["possible_values"] or []) if v is not None]
        columns[column] = (row["data_type"] if has_type else None, values)
    return tables


def _column_type(con: duckdb.DuckDBPyConnection, data_type: str | None, values: list[str]) -> str:
    """The catalog's data_type rendered for DuckDB when DuckDB accepts it, else the inferred type."""
    if data_type and data_type.strip():
        try:
            rendered = exp.DataType.build(data_type.strip()).sql(dialect="duckdb")
            con.execute(f"SELECT CAST(NULL AS {rendered})")
            return rendered
        except (SqlglotError, duckdb.Error):
            pass
    return infer_type(values)


def _draw(values: list[str], rows: int, rng: random.Random) -> list[str | None]:
    """`rows` values: each possible value once (as far as rows allow), the rest drawn, all shuffled."""
    if not values:
        return [None] * rows
    picks: list[str | None] = list(rng.sample(values, k=min(len(values), rows)))
    picks += [rng.choice(values) for _ in range(rows - len(picks))]
    rng.shuffle(picks)
    return picks


def _parses(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
