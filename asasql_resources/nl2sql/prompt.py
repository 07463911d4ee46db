"""The one NL2SQL prompt that synthesis, fine-tuning, inference and evaluation share, and its schema context."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlglot.dialects.dialect import Dialect

from asasql_resources.models.prompts import ChatPrompt

DEFAULT_CONTEXT_CHARS = 1500
MAX_VALUES_SHOWN = 6


def nl2sql_prompt(
    schema_context: str, question: str, dialect: str, example: tuple[str, str] | None = None
) -> ChatPrompt:
    """The chat prompt that asks for one SQL query answering question, over schema_context.

    With an example (a similar labeled question and its SQL), it is shown between the context and the question.
    """
    context = schema_context
    if example is not None:
        context += f"\n\nA similar question and its SQL:\nQuestion: {example[0]}\nSQL: {example[1]}"
    return ChatPrompt(user=sql_request(context, question), system=system_prompt(dialect))


def domain_schema_context(
    catalog: pl.DataFrame, tables: Sequence[str] | None = None, max_chars: int = DEFAULT_CONTEXT_CHARS
) -> str:
    """The schema context of a question whose table is unknown: every table (or those named), within max_chars.

    The detailed per-table context (descriptions, types, values) when all of it fits; otherwise one line per
    table, `table(col1, col2, ...)`, followed by ` -- description` for each table, in order, while room allows.
    Tables that do not fit at all are left out (the last resort: the first line cut at max_chars).
    """
    columns = _table_columns(catalog, tables)
    detailed = "\n\n".join(schema_context(catalog, table, names) for table, names in columns.items())
    if len(detailed) <= max_chars:
        return detailed
    lines = [f"{table}({', '.join(names)})" for table, names in columns.items()]
    room = max_chars - len("\n".join(lines))
    for i, table in enumerate(columns):
        description = table_description(catalog, table)
        addition = f" -- {description}" if description else ""
        if addition and len(addition) <= room:
            lines[i] += addition
            room -= len(addition)
    return _within(lines, max_chars)


def _table_columns(catalog: pl.DataFrame, tables: Sequence[str] | None) -> dict[str, list[str]]:
    """Column names per table, in catalog order; only the named tables (in their order) when tables is given."""
    known = {
        table: frame["column_name"].to_list() for (table,), frame in catalog.group_by("table_name", maintain_order=True)
    }
    if tables is None:
        return known
    unknown = [table for table in tables if table not in known]
    if unknown:
        raise ValueError(f"tables not in the catalog: {', '.join(map(repr, unknown))}")
    return {table: known[table] for table in dict.fromkeys(tables)}


def _within(lines: list[str], max_chars: int) -> str:
    """The leading whole lines that fit in max_chars; the first line cut to max_chars when even it does not fit."""
    text = "\n".join(lines)
    while len(text) > max_chars and "\n" in text:
        text = text.rsplit("\n", 1)[0]
    return text[:max_chars]


def system_prompt(dialect: str) -> str:
    """The system turn of every NL2SQL prompt: one query in the domain's dialect, SQL only."""
    return f"You translate questions into one {dialect_name(dialect)} SQL query. Answer with the SQL only."


def schema_context(catalog: pl.DataFrame, table_name: str, columns: Sequence[str]) -> str:
    """The table's meta description, then one line per column (type, Chinese name, description, values)."""
    rows = {row["column_name"]: row for row in catalog.filter(pl.col("table_name") == table_name).iter_rows(named=True)}
    description = table_description(catalog, table_name)
    lines = [f"Table {table_name}: {description}" if description else f"Table {table_name}"]
    lines += [_column_line(rows[name]) for name in columns if name in rows]
    return "\n".join(lines)


def sql_request(context: str, question: str) -> str:
    """The user message that asks for one SQL query: schema context, then the question."""
    return f"{context}\n\nQuestion: {question}\nSQL:"


def table_description(catalog: pl.DataFrame, table_name: str) -> str:
    """The table's meta description from the catalog ("" when unknown)."""
    found = catalog.filter(pl.col("table_name") == table_name)["table_description"].drop_nulls()
    return found[0].strip() if found.len() else ""


def _column_line(row: dict) -> str:
    """`- name (type, zh name): description. Values: v1, v2, ...` for one catalog row."""
    kinds = ", ".join(part for part in (row.get("data_type"), row.get("column_name_zh")) if part)
    line = f"- {row['column_name']}" + (f" ({kinds})" if kinds else "")
    description = (row.get("description") or "").strip()
    if description:
        line += f": {description}"
    values = row.get("possible_values") or []
    if values:
        shown = ", ".join(str(value) for value in values[:MAX_VALUES_SHOWN])
        more = ", ..." if len(values) > MAX_VALUES_SHOWN else ""
        line = f"{line.rstrip('.')}. Values: {shown}{more}"
    return line


def dialect_name(dialect: str) -> str:
    """A readable dialect name (DuckDB, MySQL, Postgres, ...) for the system prompt."""
    try:
        return type(Dialect.get_or_raise(dialect)).__name__
    except ValueError:
        return dialect
