"""nl2sql_evaluation as plain functions: the test items, one model's predictions judged, and the run's records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import polars as pl

from asasql_assets.evaluation.accuracy import execution_accuracy, summarize
from asasql_assets.progress import progress_line
from asasql_resources.nl2sql.examples import Example
from asasql_resources.nl2sql.predict import Predictor
from asasql_resources.sandbox import SandboxSession
from asasql_resources.warehouse import Home
from asasql_resources.warehouse.segments import EVALUATION_ITEMS_SCHEMA, EVALUATIONS_SCHEMA, append_segment


def test_items(test_set: pl.DataFrame, limit: int | None = None, seed: int = 0) -> pl.DataFrame:
    """The test set as items (question, gold_sql, category, split); a seeded sample of `limit` of them when set.

    split is the item's (seen, unseen) or "all" for a test set without splits.
    """
    items = test_set.select(
        "question",
        pl.col("sql").alias("gold_sql"),
        pl.col("category") if "category" in test_set.columns else pl.lit(None, pl.String).alias("category"),
        (pl.col("split") if "split" in test_set.columns else pl.lit(None, pl.String)).fill_null("all").alias("split"),
    )
    if limit is not None and limit < items.height:
        items = items.sample(limit, seed=seed).sort("category", "question", nulls_last=True)
    return items


def evaluate_model(
    name: str,
    predictor: Predictor,
    items: pl.DataFrame,
    examples: Sequence[Example | None],
    session: SandboxSession,
    *,
    max_new_tokens: int,
    batch_size: int,
    log: Callable[[str], None],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Greedy SQL for every item (its prompt showing its example), judged by execution: (per-item rows, summary)."""
    predictions = predictor.answer(
        items["question"].to_list(),
        examples=examples,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        progress=progress_line(log, f"nl2sql_evaluation: {name}", "questions"),
    )
    per_item = execution_accuracy(items, predictions, session, predictor.dialect)
    return per_item.with_columns(pl.lit(name).alias("model")), summarize(per_item, name)


def record_run(
    home: Home, run_id: str, summary: pl.DataFrame, per_item: pl.DataFrame, versions: dict[str, str]
) -> None:
    """Append this run's figures to `_evaluations` and its judgements to `_evaluation_items`."""
    now = datetime.now(UTC)
    figures = summary.with_columns(
        pl.lit(run_id).alias("run_id"),
        pl.col("model").replace_strict(versions, default=None, return_dtype=pl.String).alias("model_version"),
        pl.lit(now).alias("created_at"),
    )
    append_segment(home.evaluations, figures.select(list(EVALUATIONS_SCHEMA)).cast(EVALUATIONS_SCHEMA), run_id)
    items = per_item.with_columns(pl.lit(run_id).alias("run_id"), pl.lit(now).alias("created_at"))
    append_segment(
        home.evaluation_items, items.select(list(EVALUATION_ITEMS_SCHEMA)).cast(EVALUATION_ITEMS_SCHEMA), run_id
    )
