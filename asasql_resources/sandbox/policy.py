"""Parse-level checks that admit exactly one read-only SELECT statement (ARCHITECTURE.md section 6)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError

# Longer statements are refused outright, so that checking stays well under a second on any input.
MAX_SQL_CHARS = 20_000
# Size-amplifying functions (repeat, lpad, scalar range, ...) allocate their results inside one
# vector of up to 2048 rows, outside DuckDB's memory limit and between two interrupt checks.
# One call may build at most MAX_BUILD_SIZE characters or list elements per value; all of a
# statement's calls together (they can feed each other through CTEs) at most MAX_BUILD_PRODUCT.
# Inside a lambda they would run once per list element, so they are refused there.
MAX_BUILD_SIZE = 10_000
MAX_BUILD_PRODUCT = 1_000_000
# replace, regexp_replace, hex, ... multiply the length of an input of any size (up to the memory
# limit); the product of their factors in one statement is capped separately.
MAX_GROWTH = 16
_GROWTH_FACTORS = {"hex": 2, "bin": 8, "to_binary": 8, "to_base64": 2, "base64": 2, "url_encode": 3}

# Statements that are refused wherever they appear in the tree (DDL and DML cover CREATE, INSERT,
# UPDATE, DELETE, MERGE and COPY).
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.DDL,
    exp.DML,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,
    exp.Set,
    exp.Pragma,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Describe,
    exp.Summarize,
    exp.Show,
    exp.LoadData,
    exp.Export,
    exp.Kill,
    exp.Grant,
    exp.Revoke,
    exp.Refresh,
    exp.Cache,
    exp.Uncache,
    exp.Analyze,
    exp.Comment,
    exp.Declare,
    exp.Execute,
)

# Functions that read files or URLs, run hidden SQL, or probe/alter the engine's state.
_FORBIDDEN_NAMES = frozenset(
    {
        "glob",
        "sniff_csv",
        "query",
        "query_table",
        "current_setting",
        "getenv",
        "getvariable",
        "which_secret",
        "checkpoint",
        "force_checkpoint",
        "truncate_duckdb_logs",
        "extension_versions",
        "load_extension",
        "write_log",
    }
)
_FORBIDDEN_PREFIXES = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "pragma_",
    "duckdb_",
    "ducklake_",
    "enable_",
    "disable_",
    "json_execute",
)
_FORBIDDEN_SUFFIXES = ("_scan",)
_FORBIDDEN_FRAGMENTS = ("external_resource",)

# Catalogs and schemas of DuckDB's own state (settings, attached files, functions); information_schema
# stays readable, since it shows only the sandbox's tables and columns.
_FORBIDDEN_CATALOGS = frozenset({"system", "temp"})
_FORBIDDEN_SCHEMAS = frozenset({"pg_catalog"})
# System views that resolve without a schema (duckdb_databases, pragma_database_list, pg_settings,
# sqlite_master, ...): refused by name, wherever they appear and even if a CTE of that name exists,
# since a CTE's scope does not reach every reference.
_SYSTEM_VIEW_PREFIXES = ("duckdb_", "pragma_", "sqlite_", "pg_")

# The only functions allowed in FROM / JOIN / LATERAL position.
_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

# A table name with one of these characters is a file path or URL to DuckDB's replacement scans.
_PATH_LIKE = re.compile(r"[/\\:.*?~'\"]")
_FORMAT_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class SqlCheck:
    """The verdict on one statement: ok with its DuckDB text, or refused with a reason."""

    ok: bool
    reason: str | None
    sql: str | None


class _Refusal(Exception):
    """Raised inside the checks; check_sql turns it into a refused SqlCheck."""


def check_sql(sql: str, dialect: str = "duckdb") -> SqlCheck:
    """Admit one read-only SELECT written in `dialect`, transpiled to DuckDB; never raises."""
    try:
        return SqlCheck(ok=True, reason=None, sql=_checked_duckdb_sql(sql, dialect))
    except _Refusal as refusal:
        return SqlCheck(ok=False, reason=str(refusal), sql=None)
    except SqlglotError as error:
        return SqlCheck(ok=False, reason=f"parse error: {_first_line(error)}", sql=None)
    except RecursionError:
        return SqlCheck(ok=False, reason="statement nests too deeply to check", sql=None)
    except Exception as error:  # noqa: BLE001 - a refusal is a result, never an exception
        reason = f"could not check statement: {type(error).__name__}: {error}"
        return SqlCheck(ok=False, reason=reason, sql=None)


def _checked_duckdb_sql(sql: str, dialect: str) -> str:
    if not isinstance(sql, str):
        raise _Refusal(f"not a SQL string: got {type(sql).__name__}")
    if len(sql) > MAX_SQL_CHARS:
        raise _Refusal(f"statement too long: {len(sql)} characters (limit {MAX_SQL_CHARS})")
    _check_text(sql)
    try:
        read = Dialect.get_or_raise(dialect)
    except ValueError:
        raise _Refusal(f"unknown dialect {dialect!r}") from None
    source = _single_select(sql, read)
    _check_nodes(source)
    try:
        duckdb_sql = source.sql(dialect="duckdb", comments=False, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as error:
        raise _Refusal(f"cannot transpile from {dialect} to duckdb: {_first_line(error)}") from None
    # What runs is the DuckDB text, so it is parsed again and checked in full.
    _check_text(duckdb_sql)  # escapes such as U&'\D800' can make a lone surrogate appear here
    tree = _single_select(duckdb_sql, Dialect.get_or_raise("duckdb"))
    _check_nodes(tree)
    _check_tables(tree)
    _check_functions(tree)
    return duckdb_sql


def _check_text(sql: str) -> None:
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _Refusal(f"not valid text: {error.reason} at position {error.start}") from None


def _single_select(sql: str, dialect: Dialect) -> exp.Expression:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    if not statements:
        raise _Refusal("empty statement")
    if len(statements) > 1:
        raise _Refusal(f"not a single SELECT statement: found {len(statements)} statements")
    statement = statements[0]
    if not _is_query(statement):
        raise _Refusal(f"not a SELECT statement: found {_kind(statement)}")
    return statement


def _is_query(node: exp.Expression) -> bool:
    if isinstance(node, exp.Subquery):
        return _is_query(node.this)
    return isinstance(node, (exp.Select, exp.SetOperation))


def _kind(node: exp.Expression) -> str:
    """The statement's leading keyword as sqlglot writes it back (e.g. DROP, LOAD, TRUNCATE)."""
    try:
        words = node.sql(comments=False).split(maxsplit=1)
    except SqlglotError:
        words = []
    word = words[0].strip("(").upper() if words else ""
    return word if word.isidentifier() else node.key.upper()


def _check_nodes(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise _Refusal("SELECT ... INTO is not allowed")
        if isinstance(node, _FORBIDDEN_NODES):
            raise _Refusal(f"forbidden statement {_kind(node)} inside the query")


def _check_tables(tree: exp.Expression) -> None:
    for table in tree.find_all(exp.Table):
        for part in table.parts:
            if isinstance(part, exp.Identifier) and _PATH_LIKE.search(part.name):
                raise _Refusal(f"table reference looks like a file or URL: {part.name!r}")
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: _check_functions judges it
        catalog, schema, name = table.catalog.casefold(), table.db.casefold(), table.name.casefold()
        if catalog in _FORBIDDEN_CATALOGS or schema in _FORBIDDEN_SCHEMAS:
            raise _Refusal(f"system catalog reference is not allowed: {table.sql(dialect='duckdb')}")
        if schema != "information_schema" and (name.startswith(_SYSTEM_VIEW_PREFIXES) or _is_forbidden(name)):
            raise _Refusal(f"reference to a system view or function is not allowed: {table.name}")


def _check_functions(tree: exp.Expression) -> None:
    built = 1
    growth = 1
    for node in tree.find_all(exp.Func):
        name = _function_name(node)
        if _is_forbidden(name):
            raise _Refusal(f"forbidden function {name}")
        if isinstance(node.parent, exp.Dot) and node.arg_key == "expression":
            raise _Refusal(f"method-call or qualified syntax is not allowed: write {name}(...)")
        if _in_table_position(node):
            if name not in _TABLE_FUNCTIONS:
                raise _Refusal(f"table function {name} is not allowed")
            continue
        size = _built_size(node, name)
        factor = _growth(node, name)
        if (size > 1 or factor > 1) and node.find_ancestor(exp.Lambda):
            raise _Refusal(f"{name} may not be used inside a lambda")
        if size > MAX_BUILD_SIZE:
            raise _Refusal(f"{name} would build {size} characters or list elements per value (limit {MAX_BUILD_SIZE})")
        built *= size
        if built > MAX_BUILD_PRODUCT:
            raise _Refusal(
                f"{name}: size-amplifying functions together would build more than {MAX_BUILD_PRODUCT}"
                " characters or list elements per value"
            )
        growth *= factor
        if growth > MAX_GROWTH:
            raise _Refusal(f"{name} makes the statement grow strings more than {MAX_GROWTH} times")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Pad):
        return "lpad" if node.args.get("is_left") else "rpad"
    return node.sql_name().lower()


def _is_forbidden(name: str) -> bool:
    return (
        name in _FORBIDDEN_NAMES
        or name.startswith(_FORBIDDEN_PREFIXES)
        or name.endswith(_FORBIDDEN_SUFFIXES)
        or any(fragment in name for fragment in _FORBIDDEN_FRAGMENTS)
    )


def _in_table_position(node: exp.Func) -> bool:
    """Whether the call stands where a table does (FROM, JOIN's table, LATERAL), not in a JOIN's ON condition."""
    if isinstance(node.parent, exp.Join):
        return node.arg_key == "this"
    return isinstance(node.parent, (exp.Table, exp.From, exp.Lateral))


def _built_size(node: exp.Func, name: str) -> int:
    """How many characters or list elements a size-amplifying call builds; 1 for other calls."""
    if isinstance(node, exp.Repeat):
        base = _literal_length(node.this)
        times = _int_literal(node.args.get("times"))
        if base is None or times is None:
            raise _Refusal("repeat needs a literal value and a literal count")
        return max(1, base * times)
    if isinstance(node, exp.Pad):
        return _size_argument(name, node.expression)
    if isinstance(node, exp.GenerateSeries):
        return _series_length(node)
    if isinstance(node, exp.Anonymous) and name in ("list_resize", "array_resize", "bitstring"):
        return _size_argument(name, node.expressions[1] if len(node.expressions) > 1 else None)
    if isinstance(node, exp.Format):
        return _format_width(name, node.this)
    if isinstance(node, exp.Anonymous) and name in ("printf", "sprintf", "format"):
        return _format_width(name, node.expressions[0] if node.expressions else None)
    return 1


def _growth(node: exp.Func, name: str) -> int:
    """By how much a call can multiply the length of its input; 1 for most calls."""
    if isinstance(node, exp.Replace):
        pattern = _literal_length(node.expression)
        replacement = _literal_length(node.args.get("replacement"))
        if pattern is None or replacement is None:
            raise _Refusal(f"{name} needs a literal pattern and a literal replacement")
        return max(1, math.ceil(replacement / pattern) if pattern else replacement + 1)
    if isinstance(node, exp.RegexpReplace):
        replacement = _literal_length(node.args.get("replacement"))
        if replacement is None:
            raise _Refusal(f"{name} needs a literal replacement")
        modifiers = node.args.get("modifiers")
        is_global = isinstance(modifiers, exp.Literal) and "g" in modifiers.name
        return replacement + 1 if is_global else 1
    return _GROWTH_FACTORS.get(name, 1)


def _size_argument(name: str, node: exp.Expression | None) -> int:
    size = _int_literal(node)
    if size is None:
        raise _Refusal(f"{name} needs a literal size")
    return max(1, size)


def _series_length(node: exp.GenerateSeries) -> int:
    start = _int_literal(node.args.get("start")) if node.args.get("start") else 0
    end = _int_literal(node.args.get("end"))
    step = _int_literal(node.args.get("step")) if node.args.get("step") else 1
    if start is None or end is None or not step:
        raise _Refusal("range/generate_series as a value needs literal integer bounds and a non-zero step")
    return max(1, (end - start) // step + (0 if node.args.get("is_end_exclusive") else 1))


def _format_width(name: str, node: exp.Expression | None) -> int:
    if not (isinstance(node, exp.Literal) and node.is_string):
        raise _Refusal(f"{name} needs a literal format string")
    if "*" in node.name:
        raise _Refusal(f"{name} format string may not take its width from an argument")
    return max([1, *(int(number) for number in _FORMAT_NUMBER.findall(node.name))])


def _int_literal(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Neg):
        value = _int_literal(node.this)
        return None if value is None else -value
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isascii() and node.name.isdigit():
        return int(node.name)
    return None


def _literal_length(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return len(node.name)
    if isinstance(node, exp.Array) and all(isinstance(e, exp.Literal) for e in node.expressions):
        return len(node.expressions)
    return None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
