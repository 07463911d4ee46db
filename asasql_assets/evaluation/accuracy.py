"""Execution accuracy (EX) of predicted SQL against gold SQL in the sandbox, per item and summarized."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from asasql_resources.annotation.reference import order_matters, results_match
from asasql_resources.nl2sql.answer import extract_sql
from asasql_resources.sandbox import ExecResult, SandboxSession

ALL = "all"
PER_ITEM_SCHEMA: dict[str, pl.DataType] = {
    "question": pl.String(),
    "category": pl.String(),
    "split": pl.String(),
    "gold_sql": pl.String(),
    "predicted_sql": pl.String(),
    "parse_ok": pl.Boolean(),
    "exec_ok": pl.Boolean(),
    "match": pl.Boolean(),
    "skipped_gold": pl.Boolean(),
    "error": pl.String(),
}


def execution_accuracy(
    items: pl.DataFrame, predictions: Sequence[str | None], session: SandboxSession, dialect: str
) -> pl.DataFrame:
    """One row per item (question, gold_sql, optional category) judging its predicted SQL by execution.

    parse_ok: a query can be read from the prediction. exec_ok: it ran. match: its result equals the gold's
    (`results_match`, ordered when the gold SQL has an outer ORDER BY). A gold SQL that does not run marks the
    item skipped_gold, with exec_ok and match null: it is not counted against the model. Each gold SQL runs once.
    """
    if len(predictions) != items.height:
        raise ValueError(f"need one prediction per item: {items.height} items, {len(predictions)} predictions")
    gold_runs: dict[str, tuple[ExecResult, bool]] = {}
    records = []
    for row, predicted in zip(items.iter_rows(named=True), predictions, strict=True):
        gold_sql = row["gold_sql"]
        if gold_sql not in gold_runs:
            gold_runs[gold_sql] = (session.execute(gold_sql, dialect), order_matters(gold_sql, dialect))
        records.append(
            {
                "question": row["question"],
                "category": row.get("category"),
                "split": row.get("split") or ALL,
                "gold_sql": gold_sql,
                "predicted_sql": predicted,
                **judge(predicted, *gold_runs[gold_sql], session, dialect),
            }
        )
    return pl.DataFrame(records, schema=PER_ITEM_SCHEMA)


def judge(
    predicted: str | None, gold: ExecResult, ordered: bool, session: SandboxSession, dialect: str
) -> dict[str, Any]:
    """parse_ok, exec_ok, match, skipped_gold and error of one prediction against its gold result."""
    parse_ok = predicted is not None and extract_sql(predicted, dialect) is not None
    if not gold.ok:
        return {
            "parse_ok": parse_ok,
            "exec_ok": None,
            "match": None,
            "skipped_gold": True,
            "error": f"gold SQL failed: {gold.error}",
        }
    if not parse_ok:
        return {
            "parse_ok": False,
            "exec_ok": False,
            "match": False,
            "skipped_gold": False,
            "error": "no SQL query in the prediction",
        }
    result = session.execute(str(predicted), dialect)
    return {
        "parse_ok": True,
        "exec_ok": result.ok,
        "match": results_match(result, gold, ordered),
        "skipped_gold": False,
        "error": result.error,
    }


def summarize(per_item: pl.DataFrame, model_name: str) -> pl.DataFrame:
    """EX, parse and execution rates over the items with a working gold SQL, per split and category.

    Split "all" covers every item, and each split the test set names (seen, unseen) its own; within each, the
    category "all" and then each category. n counts those items; the rates are null when n is 0; skipped_gold
    counts the items whose gold SQL failed.
    """
    counted = ~pl.col("skipped_gold")
    figures = {
        "n": counted.sum().cast(pl.Int64),
        "ex": pl.col("match").filter(counted).mean(),
        "parse_rate": pl.col("parse_ok").filter(counted).mean(),
        "exec_rate": pl.col("exec_ok").filter(counted).mean(),
        "skipped_gold": pl.col("skipped_gold").sum().cast(pl.Int64),
    }
    splits = (
        [ALL] + sorted(set(per_item["split"].drop_nulls().to_list()) - {ALL}) if "split" in per_item.columns else [ALL]
    )
    parts = []
    for split in splits:
        items = per_item if split == ALL else per_item.filter(pl.col("split") == split)
        overall = items.select(category=pl.lit(ALL), **figures)
        categories = items.filter(pl.col("category").is_not_null()).group_by("category").agg(**figures)
        parts.append(pl.concat([overall, categories.sort("category")]).select(pl.lit(split).alias("split"), pl.all()))
    return pl.concat(parts).select(pl.lit(model_name).alias("model"), pl.all())
