"""filtered_dataset as a plain function: the rules a candidate must pass, the labeled pairs added, and the waterfall."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl
from sklearn.metrics import precision_recall_curve

from asasql_assets.finetune.augment import Execute, value_swaps
from asasql_resources.annotation.resource import CORRECTED_SUFFIX
from asasql_resources.domain.leaks import normalise_question

DATASET_SCHEMA = {
    "question": pl.String,
    "sql": pl.String,
    "table_name": pl.String,
    "table": pl.String,
    "column": pl.String,
    "score": pl.Float64,
    "source": pl.String,
    "candidate_id": pl.String,
}


def f1_threshold(labels: Iterable[bool], scores: Iterable[float]) -> float | None:
    """The score threshold that maximises F1 on labeled pairs, or None with fewer than one pair of each class."""
    y, s = np.asarray(list(labels), dtype=bool), np.asarray(list(scores), dtype=np.float64)
    if y.all() or not y.any():
        return None
    precision, recall, thresholds = precision_recall_curve(y, s)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def _drop(frame: pl.DataFrame, keep: pl.Expr, rule: str, waterfall: list[dict[str, object]]) -> pl.DataFrame:
    """Keep the rows that pass one rule, and count what it removed."""
    kept = frame.filter(keep.fill_null(False))
    waterfall.append({"rule": rule, "dropped": frame.height - kept.height, "left": kept.height})
    return kept


def filter_dataset(
    candidates: pl.DataFrame,
    scores: pl.DataFrame,
    labels: pl.DataFrame,
    test_questions: Iterable[str],
    *,
    samples: pl.DataFrame | None = None,
    threshold: float,
    drop_empty_results: bool,
    best_per_question: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The training set and its waterfall (rows lost at each rule, in order).

    Candidates must have an SQL that parses, uses only catalog tables and columns, executes (an empty result is a
    drop when `drop_empty_results`), was not labeled incorrect, is not a test-set question, and scores at or above
    `threshold` under the latest reward model. Every labeled positive (corrected SQL included) and every positive of
    the domain's `samples` is then added; with
    `best_per_question`, one row per question is kept: a labeled one first, then the highest score.
    """
    held_out = {normalise_question(q) for q in test_questions}
    waterfall: list[dict[str, object]] = [{"rule": "candidates", "dropped": 0, "left": candidates.height}]
    pool = candidates.join(scores.select("candidate_id", "score"), on="candidate_id", how="left")
    negatives = labels.filter(~pl.col("label"))["candidate_id"].to_list() if labels.height else []
    pool = _drop(pool, pl.col("sql").is_not_null(), "no_sql", waterfall)
    pool = _drop(pool, pl.col("parse_ok"), "parse_error", waterfall)
    known = (pl.col("unknown_tables").list.len() == 0) & (pl.col("unknown_columns").list.len() == 0)
    pool = _drop(pool, known, "unknown_table_or_column", waterfall)
    pool = _drop(pool, pl.col("exec_ok"), "exec_error", waterfall)
    pool = _drop(pool, ~pl.col("empty_result") if drop_empty_results else pl.lit(True), "empty_result", waterfall)
    pool = _drop(pool, ~pl.col("candidate_id").is_in(negatives), "labeled_incorrect", waterfall)
    unseen = ~pl.col("question").map_elements(normalise_question, return_dtype=pl.String).is_in(list(held_out))
    pool = _drop(pool, unseen, "test_question", waterfall)
    pool = _drop(pool, pl.col("score") >= threshold, "below_threshold", waterfall)
    synthetic = pool.with_columns(pl.lit("synthetic").alias("source")).select(list(DATASET_SCHEMA))
    positives = pl.concat(
        [_labeled_positives(labels, candidates, held_out).cast(DATASET_SCHEMA), _sample_positives(samples, held_out)]
    )
    waterfall.append(
        {"rule": "labeled_positives_added", "dropped": -positives.height, "left": synthetic.height + positives.height}
    )
    combined = pl.concat([positives.cast(DATASET_SCHEMA), synthetic.cast(DATASET_SCHEMA)])
    dataset = combined.unique(subset=["question", "sql"], keep="first", maintain_order=True)
    waterfall.append({"rule": "duplicate_pair", "dropped": combined.height - dataset.height, "left": dataset.height})
    if best_per_question:
        ranked = dataset.with_columns((pl.col("source") != "synthetic").alias("_labeled"))
        ranked = ranked.sort(["_labeled", "score"], descending=True, nulls_last=True, maintain_order=True)
        best = ranked.unique(subset="question", keep="first", maintain_order=True).drop("_labeled")
        waterfall.append(
            {"rule": "not_best_for_question", "dropped": dataset.height - best.height, "left": best.height}
        )
        dataset = best
    return dataset.sort("question", "source"), pl.DataFrame(waterfall)


def with_value_swaps(
    dataset: pl.DataFrame,
    waterfall: pl.DataFrame,
    catalog: pl.DataFrame,
    dialect: str,
    execute: Execute,
    test_questions: Iterable[str],
    *,
    per_pair: int,
    seed: int,
    keep_empty: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The dataset plus value-swap variants of its labeled rows (source "value_swap"), none a test question.

    The waterfall gains the rows added and the variants dropped because their SQL failed or returned nothing.
    """
    if per_pair == 0:
        return dataset, waterfall
    held_out = {normalise_question(q) for q in test_questions}
    labeled = dataset.filter(pl.col("source") != "synthetic")
    variants, counts = value_swaps(
        labeled, catalog, dialect, execute, per_pair=per_pair, seed=seed, keep_empty=keep_empty
    )
    variants = variants.filter(
        ~pl.col("question").map_elements(normalise_question, return_dtype=pl.String).is_in(list(held_out))
    ).with_columns(pl.lit("value_swap").alias("source"), (pl.col("candidate_id") + "#swap").alias("candidate_id"))
    fresh = variants.join(dataset.select("question"), on="question", how="anti").select(list(DATASET_SCHEMA))
    left = waterfall["left"][-1]
    steps = [
        {"rule": "value_swap_exec_error", "dropped": counts["exec_error"], "left": left},
        {"rule": "value_swap_empty_result", "dropped": counts["empty_result"], "left": left},
        {"rule": "value_swaps_added", "dropped": -fresh.height, "left": left + fresh.height},
    ]
    grown = pl.concat([dataset, fresh.cast(DATASET_SCHEMA)]).sort("question", "source")
    return grown, pl.concat([waterfall, pl.DataFrame(steps, schema=waterfall.schema)])


def emptied_by(waterfall: pl.DataFrame) -> str | None:
    """The first rule after which no row was left, or None when rows remain."""
    empty = waterfall.filter((pl.col("left") == 0) & (pl.col("dropped") > 0))
    return empty["rule"][0] if empty.height and waterfall["left"][-1] == 0 else None


def _sample_positives(samples: pl.DataFrame | None, held_out: set[str]) -> pl.DataFrame:
    """The domain's positive labeled samples outside the test set, as dataset rows (source "data_sample")."""
    if samples is None or samples.is_empty():
        return pl.DataFrame(schema=DATASET_SCHEMA)
    positive = samples.filter(
        pl.col("label")
        & ~pl.col("origin_query").map_elements(normalise_question, return_dtype=pl.String).is_in(list(held_out))
    )
    return positive.select(
        pl.col("origin_query").alias("question"),
        "sql",
        "table_name",
        "table",
        "column",
        pl.lit(1.0).alias("score"),
        pl.lit("data_sample").alias("source"),
        pl.format("sample:{}", "sample_id").alias("candidate_id"),
    ).cast(DATASET_SCHEMA)


def _labeled_positives(labels: pl.DataFrame, candidates: pl.DataFrame, held_out: set[str]) -> pl.DataFrame:
    """The labeled positives (human, reference or corrected) outside the test set, as dataset rows."""
    if labels.is_empty():
        return pl.DataFrame(schema=DATASET_SCHEMA)
    positive = labels.filter(pl.col("label")).with_columns(
        pl.col("candidate_id").str.replace(f"{CORRECTED_SUFFIX}$", "").alias("_labeled_id")
    )
    positive = positive.filter(
        ~pl.col("question").map_elements(normalise_question, return_dtype=pl.String).is_in(list(held_out))
    ).join(candidates.select(pl.col("candidate_id").alias("_labeled_id"), "table_name"), on="_labeled_id", how="left")
    return positive.select(
        "question",
        "sql",
        "table_name",
        "table",
        "column",
        pl.lit(1.0).alias("score"),
        pl.when(pl.col("source") == "corrected").then(pl.lit("corrected")).otherwise(pl.lit("labeled")).alias("source"),
        "candidate_id",
    )
