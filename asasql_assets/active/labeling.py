"""The three ways a round's selected pairs get labels: reference execution match, a workbook, or a judge model."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from asasql_resources.annotation import AnnotationError, judge_labels, read_workbook, reference_labels
from asasql_resources.annotation.resource import CORRECTED_SUFFIX
from asasql_resources.annotation.workbook import LABELS_SHEET
from asasql_resources.domain import DomainIssue
from asasql_resources.models.chat import ChatModel
from asasql_resources.reward.pairs import with_context
from asasql_resources.sandbox import SandboxSession

DECISION_SCHEMA = {"candidate_id": pl.String, "label": pl.Boolean, "source": pl.String, "note": pl.String}
CORRECTION_SCHEMA = {"candidate_id": pl.String, "corrected_sql": pl.String, "note": pl.String}


def selected_items(clusters: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """The round's selected pairs in selection order, with their score, question, SQL and schema context."""
    selected = clusters.filter(pl.col("selected")).sort("selection_rank").select("candidate_id", "score")
    joined = selected.join(
        candidates.drop("score", strict=False), on="candidate_id", how="inner", maintain_order="left"
    )
    return with_context(joined).rename({"context": "schema_context"})


def by_reference(
    items: pl.DataFrame, gold: dict[str, str], session: SandboxSession, dialect: str, *, correct: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labels by execution match against the gold bank's SQL of the same question.

    With `correct`, a mismatched pair also gets the gold SQL as its correction, as a human would write in the
    workbook's corrected_sql column.
    """
    decided = reference_labels(items.select("candidate_id", "question", "sql"), gold, session, dialect)
    decisions = decided.select(
        "candidate_id", "label", pl.lit("candidate").alias("source"), pl.col("reason").alias("note")
    ).cast(DECISION_SCHEMA)
    wrong = decided.filter(~pl.col("label")).join(items.select("candidate_id", "question"), on="candidate_id")
    corrections = wrong.select(
        "candidate_id",
        pl.col("question").replace_strict(gold, default=None).alias("corrected_sql"),
        pl.lit("gold_bank.json").alias("note"),
    )
    return decisions, corrections.filter(pl.lit(correct)).cast(CORRECTION_SCHEMA)


def by_judge(items: pl.DataFrame, chat: ChatModel, seed: int) -> pl.DataFrame:
    """Labels from the chat model as a judge, its rationale kept as the note."""
    decided = judge_labels(items.select("candidate_id", "question", "sql", "schema_context"), chat, seed=seed)
    return decided.select(
        "candidate_id", "label", pl.lit("candidate").alias("source"), pl.col("rationale").alias("note")
    ).cast(DECISION_SCHEMA)


def by_workbook(
    items: pl.DataFrame, path: Path, round_key: str, session: SandboxSession, dialect: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labels from a returned workbook, and its corrected SQL (each must execute; it adds a positive pair)."""
    returned = read_workbook(path, round_key, items["candidate_id"].to_list(), require_complete=True)
    problems = []
    corrected = []
    for row in returned.filter(pl.col("corrected_sql").str.strip_chars() != "").iter_rows(named=True):
        sql = row["corrected_sql"].strip()
        result = session.execute(sql, dialect)
        if not result.ok:
            message = f"the corrected SQL does not run: {result.error}"
            problems.append(DomainIssue(str(path), message, LABELS_SHEET, row["row"], "corrected_sql"))
            continue
        corrected.append({"candidate_id": row["candidate_id"], "corrected_sql": sql, "note": row["note"]})
    if problems:
        raise AnnotationError(problems)
    decisions = returned.select("candidate_id", "label", pl.lit("candidate").alias("source"), "note").cast(
        DECISION_SCHEMA
    )
    return decisions, pl.DataFrame(corrected, schema=CORRECTION_SCHEMA)


def with_corrections(
    items: pl.DataFrame, decisions: pl.DataFrame, corrections: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Items and decisions extended by one positive pair per corrected SQL (id suffixed #corrected)."""
    if corrections.is_empty():
        return items, decisions
    fixed = (
        items.join(corrections.select("candidate_id", "corrected_sql"), on="candidate_id")
        .with_columns(
            pl.col("corrected_sql").alias("sql"), (pl.col("candidate_id") + CORRECTED_SUFFIX).alias("candidate_id")
        )
        .drop("corrected_sql")
    )
    positive = corrections.select(
        (pl.col("candidate_id") + CORRECTED_SUFFIX).alias("candidate_id"),
        pl.lit(True).alias("label"),
        pl.lit("corrected").alias("source"),
        "note",
    ).cast(DECISION_SCHEMA)
    return pl.concat([items, fixed.select(items.columns)]), pl.concat([decisions, positive])
