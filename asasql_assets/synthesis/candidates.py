"""SQL candidate prompts with the seed's random column selection, and robust SQL extraction from model answers."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

import polars as pl
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from asasql_assets.synthesis.extraction import analyse_sql
from asasql_resources.models.prompts import ChatPrompt

CONTEXT_STRATEGIES = ("involved_only", "involved_plus_random", "full_table")
SQL_STOP = (";",)  # an SQL answer ends at its first semicolon, so generation stops there
# Tokens an SQL answer may take: the demo's longest gold SQL takes 77 (gold bank) and 76 (test set) of SmolLM2's
# tokens; an answer that runs longer is prose or a loop that a longer budget would only make longer.
SQL_MAX_NEW_TOKENS = 96
MAX_VALUES_SHOWN = 6

# Where a statement may start, and where it may end: a line end, a semicolon, a backtick (inline
# code) or a sentence end (". " followed by prose). Each start is tried with its ends, longest first.
_START = re.compile(r"\b(?:select|with)\b", re.IGNORECASE)
_END = re.compile(r"\n|;|`|\.(?=\s|$)")
_FENCE = re.compile(r"```(.*?)(?:```|\Z)", re.DOTALL)
# Bounds that keep extraction fast on long, prose-heavy answers.
_MAX_STARTS = 8
_MAX_STATEMENT_CHARS = 6000


@dataclass(frozen=True)
class CandidatePrompt:
    """One prompt for one SQL candidate: the question, its column selection and the chat prompt."""

    question_id: str
    question: str
    table_name: str
    strategy: str
    columns: tuple[str, ...]
    prompt: ChatPrompt
    context_truncated: bool


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


def sql_examples(
    samples: pl.DataFrame, catalog: pl.DataFrame, dialect: str, per_table: int = 2
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Few-shot turns per table from the positive single-table samples (same table first, then any)."""
    positive = samples.filter(pl.col("label") & ~pl.col("table_name").str.contains(",")).sort("sample_id")
    turns: list[tuple[str, tuple[str, str]]] = []
    for row in positive.iter_rows(named=True):
        table = row["table_name"].strip()
        used = [c.split(".")[-1] for c in analyse_sql(row["sql"], dialect, catalog).columns]
        context = schema_context(catalog, table, used or catalog.filter(pl.col("table_name") == table)["column_name"])
        turns.append((table, (sql_request(context, row["origin_query"]), row["sql"])))
    chosen = {}
    for table in catalog["table_name"].unique(maintain_order=True).to_list():
        ranked = [t for name, t in turns if name == table] + [t for name, t in turns if name != table]
        chosen[table] = tuple(ranked[:per_table])
    return chosen


def build_candidate_prompts(
    questions: pl.DataFrame,
    catalog: pl.DataFrame,
    *,
    k: int,
    seed: int,
    dialect: str,
    max_context_chars: int = 1000,
    examples: Mapping[str, tuple[tuple[str, str], ...]] | None = None,
) -> list[CandidatePrompt]:
    """k prompts per question; prompt i uses strategy i (cycling) and a column choice seeded by (seed, question, i).

    `examples` holds few-shot (user, SQL) turns per table, shown before the question.
    """
    system = f"You translate questions into one {dialect_name(dialect)} SQL query. Answer with the SQL only."
    table_columns = {
        table: frame["column_name"].to_list()
        for (table,), frame in catalog.group_by("table_name", maintain_order=True)
    }
    prompts = []
    for row in questions.iter_rows(named=True):
        question_id, question, table = str(row["question_id"]), row["question"], row["table_name"]
        all_columns = table_columns.get(table, [])
        wanted = set(row["involved_columns"] or [])
        involved = [name for name in all_columns if name in wanted]
        for i in range(k):
            strategy = CONTEXT_STRATEGIES[i % len(CONTEXT_STRATEGIES)]
            rng = random.Random(f"{seed}:{question_id}:{i}")
            columns = _select_columns(strategy, all_columns, involved, rng)
            context, columns, truncated = _fit_context(catalog, table, columns, set(involved), max_context_chars)
            prompts.append(
                CandidatePrompt(
                    question_id=question_id,
                    question=question,
                    table_name=table,
                    strategy=strategy,
                    columns=tuple(columns),
                    prompt=ChatPrompt(
                        user=sql_request(context, question), system=system, examples=(examples or {}).get(table, ())
                    ),
                    context_truncated=truncated,
                )
            )
    return prompts


def extract_sql(text: str, dialect: str | None = None) -> str | None:
    """The first SELECT/WITH statement in a model answer (fences, labels, chatter and trailing prose removed), or None.

    `dialect` is the one the statement must parse in (sqlglot's generic dialect when None); never raises.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        read = Dialect.get_or_raise(dialect)
    except ValueError:
        read = Dialect.get_or_raise(None)
    for region in _regions(text):
        for start in islice(_START.finditer(region), _MAX_STARTS):
            statement = _longest_statement(region[start.start() : start.start() + _MAX_STATEMENT_CHARS], read)
            if statement is not None:
                return statement
    return None


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


def _select_columns(strategy: str, all_columns: list[str], involved: list[str], rng: random.Random) -> list[str]:
    """The columns a strategy shows, in catalog order."""
    if strategy == "full_table" or (strategy == "involved_only" and not involved):
        return list(all_columns)
    if strategy == "involved_only":
        return list(involved)
    others = [name for name in all_columns if name not in involved]
    picked = set(involved) | set(rng.sample(others, (len(others) + 1) // 2))
    return [name for name in all_columns if name in picked]


def _fit_context(
    catalog: pl.DataFrame, table: str, columns: list[str], involved: set[str], limit: int
) -> tuple[str, list[str], bool]:
    """The schema context within `limit` characters: drop non-involved columns from the end, then cut."""
    context = schema_context(catalog, table, columns)
    if len(context) <= limit:
        return context, columns, False
    kept = list(columns)
    while len(context) > limit:
        droppable = [i for i, name in enumerate(kept) if name not in involved]
        if not droppable:
            context = context[:limit]
            break
        del kept[droppable[-1]]
        context = schema_context(catalog, table, kept)
    return context, kept, True


def dialect_name(dialect: str) -> str:
    """A readable dialect name (DuckDB, MySQL, Postgres, ...) for the system prompt."""
    try:
        return type(Dialect.get_or_raise(dialect)).__name__
    except ValueError:
        return dialect


def _regions(text: str) -> Iterator[str]:
    """Where to look for SQL: fenced blocks first (an unclosed fence runs to the end), then the whole text."""
    for fence in _FENCE.finditer(text):
        yield fence.group(1)
    yield text.replace("```", "\n")


def _longest_statement(tail: str, read: Dialect) -> str | None:
    """The longest prefix of `tail`, cut at a natural end, that parses as one query with a projection.

    Backticks must pair up (MySQL identifiers), so that an inline-code backtick closing the query is cut off.
    """
    ends = [match.start() for match in _END.finditer(tail)] + [len(tail)]
    for end in sorted(set(ends), reverse=True):
        candidate = tail[:end].strip().rstrip(";").strip()
        if candidate and candidate.count("`") % 2 == 0 and _is_query(candidate, read):
            return candidate
    return None


def _is_query(sql: str, read: Dialect) -> bool:
    """Whether `sql` parses as exactly one SELECT (or set operation) with at least one projection."""
    try:
        statements = [s for s in read.parse(sql) if s is not None]
    except (SqlglotError, RecursionError, ValueError):
        return False
    if len(statements) != 1:
        return False
    statement = statements[0]
    while isinstance(statement, exp.Subquery):
        statement = statement.this
    if isinstance(statement, exp.SetOperation):
        return True
    return isinstance(statement, exp.Select) and bool(statement.expressions)
