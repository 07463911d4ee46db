"""The Stage 2 steps as plain functions: cluster and select a round's batch, and its label ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from asasql_assets.active.selection import cluster_pool, redundant_members, select_batch
from asasql_resources.models.embedder import Embedder


def cluster_and_select(
    candidates: pl.DataFrame,
    scores: pl.DataFrame,
    embedder: Embedder,
    *,
    labeled: set[str],
    references: set[str] | None,
    k: int,
    budget: int,
    strategy: str,
    redundancy_threshold: float,
    seed: int,
    failing_selectable: bool = False,
    answered: set[str] | None = None,
    one_per_question: bool = False,
) -> pl.DataFrame:
    """Cluster the scored pairs, mark redundant members, and select a budget of unlabeled, selectable pairs.

    Selectable pairs executed in the sandbox (any scored pair with failing_selectable); with `references`
    (simulation), their question must also have one. Pairs of `answered` questions are not selected.
    """
    pool = scores.join(candidates, on="candidate_id", how="inner").sort("candidate_id")
    texts = [f"{r['question']}\n{r['sql']}" for r in pool.iter_rows(named=True)]
    vectors = embedder.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    cluster_ids, distances = cluster_pool(vectors, k, seed)
    selectable = pool["exec_ok"].fill_null(False) | failing_selectable
    if references is not None:
        selectable = selectable & pool["question"].is_in(list(references))
    table = pool.select("candidate_id", "question_id", "score").with_columns(
        pl.Series("cluster_id", cluster_ids, dtype=pl.Int64),
        pl.Series("centroid_distance", distances, dtype=pl.Float64),
        pl.Series("redundant", redundant_members(vectors, cluster_ids, redundancy_threshold), dtype=pl.Boolean),
        pl.col("candidate_id").is_in(list(labeled)).alias("labeled"),
        selectable.alias("selectable"),
    )
    settled = pool.filter(pl.col("question").is_in(list(answered or ())))["question_id"].unique().to_list()
    return select_batch(table, budget, strategy, seed, settled=settled, one_per_question=one_per_question)


def label_rows(
    items: pl.DataFrame,
    decisions: pl.DataFrame,
    *,
    annotator_kind: str,
    annotator_id: str,
    version: str,
) -> pl.DataFrame:
    """The round's ledger: one row per decided pair, with who labeled it, under which model, and when."""
    labeled_at = datetime.now(UTC).replace(microsecond=0)
    joined = items.join(decisions, on="candidate_id", how="inner").filter(pl.col("label").is_not_null())
    return joined.select(
        "candidate_id",
        "question",
        "sql",
        "table",
        "column",
        pl.col("label").cast(pl.Boolean),
        pl.col("source") if "source" in joined.columns else pl.lit("candidate").alias("source"),
        pl.col("note").cast(pl.String) if "note" in joined.columns else pl.lit(None, pl.String).alias("note"),
        pl.lit(annotator_kind).alias("annotator_kind"),
        pl.lit(annotator_id).alias("annotator_id"),
        pl.lit(version).alias("model_version"),
        pl.lit(labeled_at).alias("labeled_at"),
    )
