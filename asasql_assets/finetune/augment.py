"""Value-swap synthesis: new (question, SQL) pairs from labeled ones, a compared value changed in both, executed."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from asasql_resources.sandbox import ExecResult

Execute = Callable[[str], ExecResult]


@dataclass(frozen=True)
class Slot:
    """A string literal compared with a column, written verbatim once in the question, and its other values."""

    value: str
    alternatives: tuple[str, ...]


def _mentions(question: str, value: str) -> list[re.Match[str]]:
    """Where value occurs in the question as a whole word, case-insensitively."""
    return list(re.finditer(rf"(?<![\w-]){re.escape(value)}(?![\w-])", question, flags=re.IGNORECASE))


def value_slots(question: str, sql: str, catalog: pl.DataFrame, dialect: str) -> list[Slot]:
    """The swappable values of a pair: `column = 'v'` or `column IN (..., 'v', ...)` with v once in question and SQL.

    The alternatives are the column's other catalog values (of a table the query reads, preferring the one whose
    values include v) that the question does not already mention.
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return []
    tables = {table.name for table in tree.find_all(exp.Table)}
    values = {
        (row["table_name"], row["column_name"]): row["possible_values"] or []
        for row in catalog.filter(pl.col("table_name").is_in(list(tables))).iter_rows(named=True)
    }
    slots, seen = [], set()
    for literal in tree.find_all(exp.Literal):
        parent = literal.parent
        column = parent.this if isinstance(parent, exp.In) else None
        if isinstance(parent, exp.EQ):
            column = parent.left if isinstance(parent.right, exp.Literal) else parent.right
        if not literal.is_string or not isinstance(column, exp.Column) or literal.this in seen:
            continue
        seen.add(literal.this)
        if len(_mentions(question, literal.this)) != 1 or sql.count(f"'{literal.this}'") != 1:
            continue
        options = [v for (_, name), v in values.items() if name == column.name]
        known = next((v for v in options if literal.this in v), options[0] if options else [])
        alternatives = tuple(v for v in known if v != literal.this and not _mentions(question, v) and "'" not in v)
        if alternatives:
            slots.append(Slot(literal.this, alternatives))
    return slots


def swap(question: str, sql: str, slot: Slot, new: str) -> tuple[str, str]:
    """The pair with slot's value replaced by new in the question and in the SQL literal."""
    match = _mentions(question, slot.value)[0]
    return question[: match.start()] + new + question[match.end() :], sql.replace(f"'{slot.value}'", f"'{new}'")


def value_swaps(
    pairs: pl.DataFrame,
    catalog: pl.DataFrame,
    dialect: str,
    execute: Execute,
    *,
    per_pair: int,
    seed: int,
    keep_empty: bool = False,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Up to per_pair new pairs per (question, sql) row, each SQL executed; rows keep the input's other columns.

    A variant is kept when its SQL runs (and, unless keep_empty, returns rows) and its question is new.
    Returns the variants (with `swapped_from`, the source question) and counts of tried and dropped variants.
    """
    rng = random.Random(seed)
    seen = set(pairs["question"].to_list())
    rows, counts = [], {"tried": 0, "exec_error": 0, "empty_result": 0}
    for row in pairs.iter_rows(named=True):
        slots = value_slots(row["question"], row["sql"], catalog, dialect)
        options = [(slot, new) for slot in slots for new in slot.alternatives]
        for slot, new in rng.sample(options, min(per_pair, len(options))):
            question, sql = swap(row["question"], row["sql"], slot, new)
            if question in seen:
                continue
            counts["tried"] += 1
            result = execute(sql)
            if not result.ok:
                counts["exec_error"] += 1
                continue
            if result.row_count == 0 and not keep_empty:
                counts["empty_result"] += 1
                continue
            seen.add(question)
            rows.append({**row, "question": question, "sql": sql, "swapped_from": row["question"]})
    schema = {**pairs.schema, "swapped_from": pl.String}
    return pl.DataFrame(rows, schema=schema), counts
