"""Scoring the candidate pool with a round's reward model, reusing scores whose pair and model are unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from asasql_resources.models.sampling import Progress
from asasql_resources.reward.model import RewardModel
from asasql_resources.reward.pairs import with_context

SCORE_SCHEMA = {"candidate_id": pl.String, "score": pl.Float64, "pair_hash": pl.String, "model_version": pl.String}


def scorable(candidates: pl.DataFrame) -> pl.DataFrame:
    """The candidates that are a (question, SQL) pair at all (an SQL was extracted), with context and pair hash.

    The pair hash covers what a score depends on besides the model: question, context and SQL.
    """
    pool = with_context(candidates.filter(pl.col("sql").is_not_null()))
    hashes = [
        hashlib.sha256("\x1f".join(row).encode()).hexdigest()[:16]
        for row in pool.select("question", "context", "sql").iter_rows()
    ]
    return pool.with_columns(pl.Series("pair_hash", hashes, dtype=pl.String))


def score_pool(
    reward: RewardModel,
    adapter_dir: Path,
    version: str,
    candidates: pl.DataFrame,
    previous: pl.DataFrame | None,
    progress: Progress | None = None,
) -> tuple[pl.DataFrame, int]:
    """P(correct) for every pair under one reward model; rows whose pair and model are unchanged are reused."""
    pool = scorable(candidates)
    frame = pool.select("candidate_id", "pair_hash").with_columns(pl.lit(version).alias("model_version"))
    known = {}
    if previous is not None and not previous.is_empty():
        same = previous.filter(pl.col("model_version") == version)
        known = dict(zip(same["pair_hash"].to_list(), same["score"].to_list(), strict=False))
    todo = [i for i, h in enumerate(frame["pair_hash"].to_list()) if h not in known]
    scores = np.array([known.get(h, np.nan) for h in frame["pair_hash"].to_list()], dtype=np.float64)
    if todo:
        handle = reward.load(adapter_dir)
        pairs = [pool.select("question", "context", "sql").row(i) for i in todo]
        scores[todo] = handle.score(pairs, batch_size=reward.batch_size, progress=progress)
    scored = frame.with_columns(pl.Series("score", scores, dtype=pl.Float64)).select(list(SCORE_SCHEMA))
    return scored, len(frame) - len(todo)
