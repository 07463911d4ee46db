"""Check database.duckdb as the sandbox will use it: it opens read-only and holds the catalog's tables."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import duckdb

from asasql_resources.domain.errors import DomainIssue, error, warning
from asasql_resources.domain.limits import file_problem, shorten

DATABASE_FILE = "database.duckdb"
# No extension downloads or loads while the file is read.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_SHOWN = 8  # names listed in one message


def database_issues(path: Path, catalog: Iterable[tuple[str, str]]) -> list[DomainIssue]:
    """Issues of a database file against the catalog's (table, column) pairs; [] when the sandbox can use it.

    An error when it is not a readable DuckDB file, is locked by a writer, or lacks a catalog table (the sandbox
    copies the tables of its schema main); a warning for catalog columns that its tables lack.
    """
    problem = file_problem(path, sys.maxsize) or _header_problem(path)
    if problem is not None:
        return [error(DATABASE_FILE, problem)]
    # Attached read-only to an in-memory connection, as the sandbox attaches it.
    con = duckdb.connect(":memory:", config=_CONFIG)
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS src (READ_ONLY)")
    except duckdb.Error as exc:
        con.close()
        return [error(DATABASE_FILE, _open_failure(exc))]
    try:
        where = "database_name = 'src' AND schema_name = 'main' AND NOT internal"
        rows = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            f"SEMI JOIN duckdb_tables() USING (database_name, schema_name, table_name) WHERE {where}"
        ).fetchall()
        views = {
            name.lower() for (name,) in con.execute(f"SELECT view_name FROM duckdb_views() WHERE {where}").fetchall()
        }
    except duckdb.Error as exc:
        return [error(DATABASE_FILE, f"cannot list its tables: {shorten(str(exc), 200)}")]
    finally:
        con.close()
    return _compare(catalog, rows, views)


def _compare(catalog: Iterable[tuple[str, str]], rows: list[tuple[str, str]], views: set[str]) -> list[DomainIssue]:
    """Catalog tables the database lacks (an error) and catalog columns its tables lack (a warning)."""
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table.lower(), set()).add(column.lower())
    wanted: dict[str, list[str]] = {}
    for table, column in catalog:
        if table and column:
            wanted.setdefault(table, []).append(column)
    missing = [table for table in wanted if table.lower() not in columns]
    issues = []
    if missing and len(missing) == len(wanted):
        held = ", ".join(sorted(columns)[:_SHOWN]) or "no tables"
        message = f"holds none of the catalog's {len(wanted)} tables (it holds: {held}); {_ADVICE}"
        issues.append(error(DATABASE_FILE, message))
    elif missing:
        named = ", ".join(f"'{t}'" + (" (a view)" if t.lower() in views else "") for t in missing[:_SHOWN])
        more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        message = f"lacks {len(missing)} of the catalog's tables in its schema main: {named}{more}; {_ADVICE}"
        issues.append(error(DATABASE_FILE, message))
    absent = [
        f"{table}.{column}"
        for table, names in wanted.items()
        if table.lower() in columns
        for column in names
        if column.lower() not in columns[table.lower()]
    ]
    if absent:
        more = f" and {len(absent) - _SHOWN} more" if len(absent) > _SHOWN else ""
        message = f"lacks {len(absent)} catalog column(s): {', '.join(absent[:_SHOWN])}{more}; SQL naming them fails"
        issues.append(warning(DATABASE_FILE, message))
    return issues


_ADVICE = "the sandbox copies the tables of schema main (remove the file to synthesize data from the catalog)"


def _header_problem(path: Path) -> str | None:
    """Why the file's first bytes are not a DuckDB database's (which has "DUCK" at byte 8); None when they are."""
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if head[8:12] == b"DUCK":
        return None
    kind = " (it is a SQLite database)" if head.startswith(b"SQLite format 3") else ""
    return f"is not a DuckDB database file{kind}"


def _open_failure(exc: duckdb.Error) -> str:
    """A one-line reason why DuckDB could not open the file read-only."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "lock" in text.lower():
        return f"is locked by another process that has it open for writing; close it and retry ({shorten(text, 160)})"
    if "not a valid DuckDB database" in text:
        return "is not a DuckDB database file"
    return f"cannot be opened read-only as a DuckDB database: {shorten(text, 200)}"
