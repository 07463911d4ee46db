"""Stage 2 selection: cluster the scored pool, mark redundant members and pick a batch for annotation."""

from collections.abc import Callable, Collection

import numpy as np
import polars as pl

from asasql_resources.vectors.dedup import keep_mask, kmeans

STRATEGIES = ("random", "uncertainty", "diversity", "hybrid")
DEFAULT_STRATEGY = "hybrid"
POOL_COLUMNS = ("candidate_id", "cluster_id", "score", "centroid_distance", "redundant", "labeled", "selectable")
NEAR_HALF = 0.1
ROW = "_row"


def _unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def cluster_pool(vectors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faiss spherical k-means (k capped at the row count): cluster id per row, cosine distance to its centroid."""
    clusters, centroids = kmeans(vectors, k, seed)
    rows = _unit(np.asarray(vectors, dtype=np.float64))
    similarity = np.sum(rows * _unit(centroids.astype(np.float64))[clusters], axis=1)
    return clusters, np.clip(1.0 - similarity, 0.0, 2.0)


def redundant_members(vectors: np.ndarray, cluster_ids: np.ndarray, threshold: float) -> np.ndarray:
    """True for a row whose cosine similarity to an earlier kept row of its own cluster is >= threshold."""
    if len(vectors) != len(cluster_ids):
        raise ValueError(f"got {len(vectors)} vectors but {len(cluster_ids)} cluster ids")
    redundant = np.zeros(len(cluster_ids), dtype=bool)
    for cluster in np.unique(cluster_ids):
        members = np.flatnonzero(cluster_ids == cluster)
        redundant[members] = ~keep_mask(vectors[members], threshold)
    return redundant


def _with_reasons(picked: pl.DataFrame, reasons: list[str]) -> pl.DataFrame:
    """The picked rows with their reason column."""
    return picked.with_columns(reason=pl.Series(reasons, dtype=pl.String))


def _random_batch(eligible: pl.DataFrame, budget: int, seed: int) -> pl.DataFrame:
    """A seeded uniform sample, drawn over candidate_id order so that the pool's row order does not matter."""
    ordered = eligible.sort("candidate_id", maintain_order=True)
    draw = np.random.default_rng(seed).permutation(ordered.height)[:budget]
    picked = ordered[draw.tolist()]
    return _with_reasons(picked, [f"selected: uniform random sample (seed {seed})"] * picked.height)


def _uncertainty_batch(eligible: pl.DataFrame, budget: int, seed: int) -> pl.DataFrame:
    """The eligible rows with the smallest |p-0.5|, ties broken by candidate_id."""
    picked = eligible.sort(["margin", "candidate_id"], maintain_order=True).head(budget)
    return _with_reasons(picked, [f"selected: most uncertain (|p-0.5|={margin:.2f})" for margin in picked["margin"]])


def _round_robin(eligible: pl.DataFrame, member_order: str, clusters: pl.DataFrame, budget: int) -> pl.DataFrame:
    """Pass n takes each cluster's n-th member (by member_order, then candidate_id), clusters in the given order."""
    positions = clusters.select("cluster_id").with_row_index("cluster_position")
    return (
        eligible.sort([member_order, "candidate_id"], maintain_order=True)
        .with_columns(pass_number=pl.int_range(1, pl.len() + 1).over("cluster_id"))
        .join(positions, on="cluster_id")
        .sort(["pass_number", "cluster_position"])
        .head(budget)
    )


def _cluster_reasons(picked: pl.DataFrame, superlative: str, measure: str, label: str) -> list[str]:
    """One reason per round-robin pick, e.g. 'selected: #2 most uncertain in cluster 3 (|p-0.5|=0.10)'."""
    return [
        f"selected: {'' if rank == 1 else f'#{rank} '}{superlative} in cluster {cluster} ({label}={value:.2f})"
        for rank, cluster, value in zip(picked["pass_number"], picked["cluster_id"], picked[measure], strict=True)
    ]


def _diversity_batch(eligible: pl.DataFrame, budget: int, seed: int) -> pl.DataFrame:
    """Nearest-to-centroid first, round-robin over clusters by eligible size (descending), then cluster id."""
    clusters = eligible.group_by("cluster_id").agg(size=pl.len()).sort(["size", "cluster_id"], descending=[True, False])
    picked = _round_robin(eligible, "centroid_distance", clusters, budget)
    return _with_reasons(picked, _cluster_reasons(picked, "nearest the centroid", "centroid_distance", "distance"))


def _hybrid_batch(eligible: pl.DataFrame, budget: int, seed: int) -> pl.DataFrame:
    """Most uncertain first, round-robin over clusters by mean eligible |p-0.5| (ascending), then cluster id."""
    clusters = (
        eligible.group_by("cluster_id").agg(mean_margin=pl.col("margin").mean()).sort(["mean_margin", "cluster_id"])
    )
    picked = _round_robin(eligible, "margin", clusters, budget)
    return _with_reasons(picked, _cluster_reasons(picked, "most uncertain", "margin", "|p-0.5|"))


BATCHES: dict[str, Callable[[pl.DataFrame, int, int], pl.DataFrame]] = {
    "random": _random_batch,
    "uncertainty": _uncertainty_batch,
    "diversity": _diversity_batch,
    "hybrid": _hybrid_batch,
}


def _check_request(pool: pl.DataFrame, budget: int, strategy: str) -> None:
    """Refuse an unknown strategy, a negative budget or a pool missing a column."""
    if strategy not in STRATEGIES:
        raise ValueError(f"setting `strategy` must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if budget < 0:
        raise ValueError(f"the selection budget must be at least 0, got {budget}")
    missing = [column for column in POOL_COLUMNS if column not in pool.columns]
    if missing:
        raise ValueError(f"the pool lacks column(s) {', '.join(missing)}")


def _skip_reason(settled: pl.Expr, sibling: pl.Expr) -> pl.Expr:
    """Why a row was not selected: labeled, its question answered, not selectable, redundant, or not picked."""
    return (
        pl.when(pl.col("labeled"))
        .then(pl.lit("already labeled"))
        .when(settled)
        .then(pl.lit("question already answered"))
        .when(~pl.col("selectable"))
        .then(pl.lit("not selectable"))
        .when(pl.col("redundant"))
        .then(pl.lit("redundant"))
        .when(sibling)
        .then(pl.lit("another pair of its question was selected"))
        .otherwise(pl.lit("not selected"))
    )


def select_batch(
    pool: pl.DataFrame,
    budget: int,
    strategy: str = DEFAULT_STRATEGY,
    seed: int = 0,
    *,
    settled: Collection[str] = (),
    one_per_question: bool = False,
) -> pl.DataFrame:
    """The pool with selected, selection_rank (1..budget, null when not selected) and a reason for every row.

    Pairs of `settled` question ids (their correct SQL is known) are never selected; with one_per_question, a
    batch holds at most one pair per question_id, the first the strategy ranks.
    """
    _check_request(pool, budget, strategy)
    rows = pool.with_row_index(ROW)
    by_question = settled or one_per_question
    is_settled = pl.col("question_id").is_in(list(settled)) if by_question else pl.lit(False)
    eligible = rows.filter(pl.col("selectable") & ~pl.col("labeled") & ~is_settled & ~pl.col("redundant")).with_columns(
        margin=(pl.col("score") - 0.5).abs()
    )
    ranked = BATCHES[strategy](eligible, eligible.height if one_per_question else budget, seed)
    if one_per_question:
        ranked = ranked.unique("question_id", keep="first", maintain_order=True).head(budget)
    picks = ranked.select(ROW, "reason").with_columns(selection_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    chosen = ranked["question_id"].to_list() if by_question else []
    sibling = pl.col("question_id").is_in(chosen) if by_question else pl.lit(False)
    return (
        rows.join(picks, on=ROW, how="left")
        .sort(ROW)
        .with_columns(
            selected=pl.col("selection_rank").is_not_null(),
            reason=pl.coalesce(pl.col("reason"), _skip_reason(is_settled, sibling)),
        )
        .select(*pool.columns, "selected", "selection_rank", "reason")
    )


def uncertainty_summary(scores: np.ndarray) -> dict[str, float]:
    """Mean and population standard deviation of uncertainty 1 - 2|p-0.5|, and the share within 0.1 of 0.5."""
    margins = np.abs(np.asarray(scores, dtype=np.float64) - 0.5)
    if margins.size == 0:
        return {"uncertainty_mean": 0.0, "uncertainty_std": 0.0, "share_near_half": 0.0}
    uncertainty = 1.0 - 2.0 * margins
    return {
        "uncertainty_mean": float(uncertainty.mean()),
        "uncertainty_std": float(uncertainty.std()),
        "share_near_half": float(np.mean(margins <= NEAR_HALF)),
    }
