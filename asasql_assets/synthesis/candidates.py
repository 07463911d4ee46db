"""SQL candidate prompts with the seed's random column selection, and few-shot turns from the samples."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from asasql_assets.synthesis.extraction import analyse_sql
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.nl2sql.prompt import schema_context, sql_request, system_prompt

CONTEXT_STRATEGIES = ("involved_only", "involved_plus_random", "full_table")


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
    system = system_prompt(dialect)
    table_columns = {
        table: frame["column_name"].to_list() for (table,), frame in catalog.group_by("table_name", maintain_order=True)
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
