"""Tables and columns of SQL candidates (sqlglot, checked against the catalog), their execution, and the seed fields."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from asasql_resources.models.sampling import Progress
from asasql_resources.sandbox import ExecResult, SandboxSession

DROP_REASONS = ("no_sql", "parse_error", "unknown_table", "unknown_column", "refused", "exec_error")
PROGRESS_EVERY = 50

EXTRACTED_SCHEMA: dict[str, pl.DataType] = {
    "candidate_id": pl.String(),
    "question_id": pl.String(),
    "question": pl.String(),
    "table_name": pl.String(),
    "sql": pl.String(),
    "parse_ok": pl.Boolean(),
    "parse_error": pl.String(),
    "tables": pl.List(pl.String()),
    "columns": pl.List(pl.String()),
    "unknown_tables": pl.List(pl.String()),
    "unknown_columns": pl.List(pl.String()),
    "exec_ok": pl.Boolean(),
    "exec_error": pl.String(),
    "refused": pl.Boolean(),
    "row_count": pl.Int64(),
    "empty_result": pl.Boolean(),
    "elapsed_ms": pl.Float64(),
    "table": pl.String(),
    "column": pl.String(),
    "drop_reason": pl.String(),
}

# Column types whose possible values the seed writes as JSON numbers or booleans, not strings.
_NUMERIC_TYPES = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "INT2",
        "INT4",
        "INT8",
        "FLOAT",
        "FLOAT4",
        "FLOAT8",
        "REAL",
        "DOUBLE",
        "DOUBLE PRECISION",
        "DECIMAL",
        "NUMERIC",
    }
)
_BOOLEAN_TYPES = frozenset({"BOOLEAN", "BOOL"})
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TOKEN = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: [^>]*>")


@dataclass(frozen=True)
class SqlAnalysis:
    """What one SQL statement uses: its physical tables and columns, and those the catalog lacks."""

    parse_ok: bool
    parse_error: str | None
    tables: list[str]
    columns: list[str]
    unknown_tables: list[str]
    unknown_columns: list[str]


@dataclass(frozen=True)
class _Catalog:
    """The catalog indexed by lowercase names, with a lowercase sqlglot schema for qualification."""

    tables: dict[str, str]
    columns: dict[str, dict[str, str]]
    table_descriptions: dict[str, str]
    column_rows: dict[tuple[str, str], dict[str, Any]]
    schema: MappingSchema


def analyse_sql(sql: str, dialect: str, catalog: pl.DataFrame) -> SqlAnalysis:
    """Parse one statement in `dialect` and resolve its tables and columns against the catalog; never raises."""
    return _analyse(sql, dialect, _index(catalog))


def seed_table_field(catalog: pl.DataFrame, tables: Sequence[str]) -> str:
    """The seed's table field: "(table_name;table_description)" per known table, one per line."""
    return _table_field(_index(catalog), tables)


def seed_column_field(catalog: pl.DataFrame, columns: Sequence[str]) -> str:
    """The seed's column field: "(column_name;column_name_zh;column_description;possible_values)" per known column.

    Entries are "table.column", or a bare column name taken from the first catalog table that has it.
    """
    return _column_field(_index(catalog), columns)


def extract_columns(
    candidates: pl.DataFrame,
    catalog: pl.DataFrame,
    dialect: str,
    session: SandboxSession,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """One row per candidate: analysis, sandbox run (when it parses and its tables exist), seed fields, drop reason."""
    index = _index(catalog)
    rows = []
    total = candidates.height
    for done, candidate in enumerate(candidates.iter_rows(named=True), start=1):
        rows.append(_check(candidate, index, dialect, session))
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    return pl.DataFrame(rows, schema=EXTRACTED_SCHEMA)


def _index(catalog: pl.DataFrame) -> _Catalog:
    """Index the catalog by lowercase table and column names (the first spelling of a name wins)."""
    tables: dict[str, str] = {}
    columns: dict[str, dict[str, str]] = {}
    descriptions: dict[str, str] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    types: dict[str, dict[str, str]] = {}
    for row in catalog.iter_rows(named=True):
        table, column = row["table_name"].lower(), row["column_name"].lower()
        tables.setdefault(table, row["table_name"])
        descriptions.setdefault(table, row.get("table_description") or "")
        if column not in columns.setdefault(table, {}):
            columns[table][column] = row["column_name"]
            rows[(table, column)] = row
            types.setdefault(table, {})[column] = row.get("data_type") or "VARCHAR"
    return _Catalog(tables, columns, descriptions, rows, MappingSchema(types, normalize=False))


def _analyse(sql: str, dialect: str, index: _Catalog) -> SqlAnalysis:
    """analyse_sql on an indexed catalog."""
    try:
        read = Dialect.get_or_raise(dialect)
    except ValueError:
        return _unparsed(f"unknown dialect {dialect!r}")
    try:
        statements = [statement for statement in read.parse(sql) if statement is not None]
    except SqlglotError as error:
        return _unparsed(_describe(error))
    except RecursionError:
        return _unparsed("statement nests too deeply to parse")
    if len(statements) != 1:
        return _unparsed("empty statement" if not statements else f"expected one statement, found {len(statements)}")
    tree = statements[0]
    spellings = {identifier.name.lower(): identifier.name for identifier in tree.find_all(exp.Identifier)}
    _fold_case(tree)
    try:
        tree = qualify(
            tree.copy(),
            dialect=read,
            schema=index.schema,
            expand_stars=False,
            validate_qualify_columns=False,
            quote_identifiers=False,
        )
    except Exception:  # noqa: BLE001 - qualification is best effort; the unqualified tree is resolved below
        pass
    tables, references = _references(tree)
    return _resolve(tables, references, index, spellings)


def _unparsed(error: str) -> SqlAnalysis:
    """The analysis of a statement that could not be parsed."""
    return SqlAnalysis(False, error, [], [], [], [])


def _describe(error: SqlglotError) -> str:
    """A one-line parse error that says what is wrong and where."""
    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        description = _TOKEN.sub(lambda match: repr(match.group(1)), str(first["description"]))
        return f"{description} (line {first['line']}, col {first['col']})"
    text = _ANSI.sub("", str(error)).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _fold_case(tree: exp.Expression) -> None:
    """Lowercase every identifier and mark it quoted, so that matching is case-insensitive in any dialect."""
    for identifier in tree.find_all(exp.Identifier):
        identifier.set("this", identifier.name.lower())
        identifier.set("quoted", True)


def _references(tree: exp.Expression) -> tuple[list[str], list[tuple[str | None, str]]]:
    """Physical table names and (table or None, column) references, by scope where sqlglot can scope the tree."""
    try:
        return _scoped_references(tree)
    except Exception:  # noqa: BLE001 - scoping can fail on odd trees; fall back to a flat walk
        return _flat_references(tree)


def _scoped_references(tree: exp.Expression) -> tuple[list[str], list[tuple[str | None, str]]]:
    """References in reading order; each column is taken once, in its innermost scope, where a bare name
    over a single table belongs to that table (a statement without scopes, e.g. DROP, is walked flat)."""
    scopes = traverse_scope(tree)
    if not scopes:
        return _flat_references(tree)
    position = {id(node): i for i, node in enumerate(tree.walk(bfs=False))}
    tables: list[tuple[int, str]] = []
    references: list[tuple[int, str | None, str]] = []
    seen: set[int] = set()
    for scope in scopes:
        tables += [(position.get(id(s), 0), s.name) for s in scope.sources.values() if _is_physical(s)]
        selected = [source for _, source in scope.selected_sources.values()]
        only = selected[0].name if len(selected) == 1 and _is_physical(selected[0]) else None
        for column in scope.columns:
            if id(column) in seen or isinstance(column.this, exp.Star) or _is_alias_reference(column, scope):
                continue
            seen.add(id(column))
            table: str | None = only
            if column.table:
                source = _lookup(scope, column.table)
                if source is not None and not _is_physical(source):
                    continue
                table = source.name if source is not None else None
            references.append((position.get(id(column), 0), table, column.name))
    return [name for _, name in sorted(tables)], [(table, name) for _, table, name in sorted(references)]


def _flat_references(tree: exp.Expression) -> tuple[list[str], list[tuple[str | None, str]]]:
    """Tables not named by a CTE, and bare column names, from a plain walk of the tree."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = [table.name for table in tree.find_all(exp.Table) if _is_physical(table) and table.name not in ctes]
    references = [(None, column.name) for column in tree.find_all(exp.Column) if not isinstance(column.this, exp.Star)]
    return tables, references


def _is_physical(source: object) -> bool:
    """Whether a scope source is a named table (not a CTE, subquery or table function)."""
    return isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier)


def _is_alias_reference(column: exp.Column, scope: Scope) -> bool:
    """Whether a bare name outside the projections refers to a SELECT alias of this scope (not a column)."""
    select = scope.expression
    if column.table or not isinstance(select, exp.Select):
        return False
    aliases = {
        projection.alias
        for projection in select.expressions
        if isinstance(projection, exp.Alias)
        and not (isinstance(projection.this, exp.Column) and projection.this.name == projection.alias)
    }
    if column.name not in aliases:
        return False
    node: exp.Expression = column
    while node.parent is not None and node.parent is not select:
        node = node.parent
    return node.arg_key != "expressions"


def _lookup(scope: Scope | None, alias: str) -> exp.Expression | Scope | None:
    """The source an alias names, in this scope or an enclosing one (correlated subqueries)."""
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _resolve(
    tables: list[str], references: list[tuple[str | None, str]], index: _Catalog, spellings: dict[str, str]
) -> SqlAnalysis:
    """Map lowercase names back to catalog (or written) spellings and find those the catalog lacks."""
    tables = list(dict.fromkeys(tables))
    known = [table for table in tables if table in index.tables]
    columns: list[str] = []
    unknown_columns: list[str] = []
    for table, column in dict.fromkeys(references):
        if table in index.tables:
            found = column in index.columns[table]
            name = f"{index.tables[table]}.{index.columns[table].get(column, spellings.get(column, column))}"
        else:
            homes = [home for home in known if column in index.columns[home]]
            found = bool(homes)
            written = spellings.get(column, column)
            spelled = index.columns[homes[0]][column] if homes else written
            name = f"{spellings.get(table, table)}.{written}" if table else spelled
        columns.append(name)
        if not found:
            unknown_columns.append(name)
    return SqlAnalysis(
        parse_ok=True,
        parse_error=None,
        tables=[index.tables.get(table, spellings.get(table, table)) for table in tables],
        columns=list(dict.fromkeys(columns)),
        unknown_tables=[spellings.get(table, table) for table in tables if table not in index.tables],
        unknown_columns=list(dict.fromkeys(unknown_columns)),
    )


def _table_field(index: _Catalog, tables: Iterable[str]) -> str:
    """seed_table_field on an indexed catalog."""
    keys = dict.fromkeys(table.lower() for table in tables if table.lower() in index.tables)
    return "\n".join(f"({index.tables[key]};{index.table_descriptions[key]})" for key in keys)


def _column_field(index: _Catalog, columns: Iterable[str]) -> str:
    """seed_column_field on an indexed catalog."""
    keys = dict.fromkeys(key for key in (_column_key(index, entry) for entry in columns) if key is not None)
    lines = []
    for key in keys:
        row = index.column_rows[key]
        typed = [_typed_value(value, row.get("data_type")) for value in row.get("possible_values") or []]
        values = json.dumps(typed, ensure_ascii=False)
        fields = (row["column_name"], row.get("column_name_zh") or "", row.get("description") or "", values)
        lines.append(f"({';'.join(fields)})")
    return "\n".join(lines)


def _typed_value(value: str, data_type: str | None) -> Any:
    """A possible value as the seed writes it: a JSON number or boolean for such columns, else the string."""
    kind = (data_type or "").upper().split("(")[0].strip()
    if kind not in _NUMERIC_TYPES and kind not in _BOOLEAN_TYPES:
        return value
    try:
        parsed = json.loads(value.strip().lower() if kind in _BOOLEAN_TYPES else value)
    except ValueError:
        return value
    wanted = (bool,) if kind in _BOOLEAN_TYPES else (int, float)
    if isinstance(parsed, wanted) and (kind in _BOOLEAN_TYPES or not isinstance(parsed, bool)):
        return parsed
    return value


def _column_key(index: _Catalog, entry: str) -> tuple[str, str] | None:
    """The catalog key of a "table.column" or bare column entry, or None when the catalog lacks it."""
    table, _, column = entry.lower().partition(".")
    if column and (table, column) in index.column_rows:
        return table, column
    bare = entry.lower()
    return next(((table, bare) for table in index.tables if (table, bare) in index.column_rows), None)


def _check(candidate: dict[str, Any], index: _Catalog, dialect: str, session: SandboxSession) -> dict[str, Any]:
    """One output row: analyse the SQL, run it when it may run, and name the first failure.

    The seed fields describe the query's known tables, or the question's table when it names none.
    """
    sql = (candidate.get("sql") or "").strip()
    analysis = _analyse(sql, dialect, index) if sql else SqlAnalysis(False, None, [], [], [], [])
    result = session.execute(sql, dialect) if analysis.parse_ok and not analysis.unknown_tables else None
    exec_ok = result is not None and result.ok
    known = [table for table in analysis.tables if table.lower() in index.tables]
    tables = known or [name for name in [candidate.get("table_name")] if name]
    return {
        "candidate_id": candidate["candidate_id"],
        "question_id": candidate["question_id"],
        "question": candidate["question"],
        "table_name": candidate["table_name"],
        "sql": candidate.get("sql"),
        "parse_ok": analysis.parse_ok,
        "parse_error": analysis.parse_error,
        "tables": analysis.tables,
        "columns": analysis.columns,
        "unknown_tables": analysis.unknown_tables,
        "unknown_columns": analysis.unknown_columns,
        "exec_ok": exec_ok,
        "exec_error": result.error if result is not None and not result.ok else None,
        "refused": result is not None and result.refused,
        "row_count": result.row_count if result is not None else 0,
        "empty_result": result is not None and result.ok and _is_empty(result),
        "elapsed_ms": result.elapsed_ms if result is not None else 0.0,
        "table": _table_field(index, tables),
        "column": _column_field(index, _prefer_tables(analysis.columns, tables, index)),
        "drop_reason": _drop_reason(sql, analysis, result),
    }


def _is_empty(result: ExecResult) -> bool:
    """No rows, or only NULLs (e.g. an aggregate over no rows)."""
    return all(value is None for row in result.rows for value in row)


def _prefer_tables(columns: list[str], tables: list[str], index: _Catalog) -> list[str]:
    """Bare column names qualified with the first of `tables` that has them."""
    preferred = []
    for entry in columns:
        homes = (table for table in tables if entry.lower() in index.columns.get(table.lower(), {}))
        home = None if "." in entry else next(homes, None)
        preferred.append(f"{home}.{entry}" if home else entry)
    return preferred


def _drop_reason(sql: str, analysis: SqlAnalysis, result: ExecResult | None) -> str | None:
    """The first failing check among DROP_REASONS, or None when the statement ran."""
    if result is not None and result.ok:
        return None
    failed = {
        "no_sql": not sql,
        "parse_error": not analysis.parse_ok,
        "unknown_table": bool(analysis.unknown_tables),
        "unknown_column": bool(analysis.unknown_columns),
        "refused": result is not None and result.refused,
    }
    return next((reason for reason in DROP_REASONS if failed.get(reason)), "exec_error")
