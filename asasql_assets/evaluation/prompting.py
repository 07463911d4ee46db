"""The one NL2SQL prompt that fine-tuning, inference and evaluation share, and its domain-wide schema context."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from asasql_assets.synthesis.candidates import dialect_name, table_description, schema_context, sql_request
from asasql_resources.models.prompts import ChatPrompt

DEFAULT_CONTEXT_CHARS = 1500


def nl2sql_prompt(
    schema_context: str, question: str, dialect: str, example: tuple[str, str] | None = None
) -> ChatPrompt:
    """The chat prompt that asks for one SQL query answering question, over schema_context.

    With an example (a similar labeled question and its SQL), it is shown between the context and the question.
    """
    context = schema_context
    if example is not None:
        context += f"\n\nA similar question and its SQL:\nQuestion: {example[0]}\nSQL: {example[1]}"
    return ChatPrompt(
        user=sql_request(context, question),
        system=f"You translate questions into one {dialect_name(dialect)} SQL query. Answer with the SQL only.",
    )


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
        table: frame["column_name"].to_list()
        for (table,), frame in catalog.group_by("table_name", maintain_order=True)
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
