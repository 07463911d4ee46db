"""The Stage 2 steps as plain functions: train a round's reward model, score the pool, cluster and select, label."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from asasql_assets.active.history import with_context
from asasql_assets.active.selection import cluster_pool, redundant_members, select_batch
from asasql_resources.models.adapters import AdapterManifest, load_manifest, save_adapter
from asasql_resources.models.embedder import Embedder
from asasql_resources.models.reward import RewardModel
from asasql_resources.models.reward_training import TrainSettings, train_reward_model
from asasql_resources.models.sampling import Progress
from asasql_resources.warehouse import content_hash

TRAINING_SCHEMA = {"question": pl.String, "context": pl.String, "sql": pl.String, "label": pl.Boolean, "source": pl.String}
SCORE_SCHEMA = {"candidate_id": pl.String, "score": pl.Float64, "pair_hash": pl.String, "model_version": pl.String}


def training_frame(samples: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """The reward model's examples: the domain's labeled samples, then every earlier round's labels."""
    seed = with_context(samples.rename({"origin_query": "question"})).with_columns(pl.lit("data_sample").alias("source"))
    frames = [seed.select(list(TRAINING_SCHEMA)).cast(TRAINING_SCHEMA)]
    if not labels.is_empty():
        rounds = with_context(labels).with_columns(pl.format("round_{}", "label_round").alias("source"))
        frames.append(rounds.select(list(TRAINING_SCHEMA)).cast(TRAINING_SCHEMA))
    return pl.concat(frames)


def model_version(examples: pl.DataFrame, settings: Mapping[str, object], base_identity: str) -> str:
    """The identity of a trained reward model: its examples, its settings and its base."""
    payload = json.dumps({"data": content_hash(examples), "settings": settings, "base": base_identity}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_round(
    reward: RewardModel,
    examples: pl.DataFrame,
    train: TrainSettings,
    adapter_dir: Path,
    log: Callable[[str], None],
) -> tuple[dict[str, object], bool]:
    """Train (or reuse, when an adapter with this exact version is saved) and return its metrics row and reuse flag."""
    settings = {"reward": reward.settings().as_dict(), "train": asdict(train)}
    handle = reward.load()
    version = model_version(examples, settings, handle.base_identity)
    if (adapter_dir / "manifest.json").exists():
        manifest = load_manifest(adapter_dir)
        if manifest.data_version == version and manifest.base_identity == handle.base_identity:
            log(f"reward model {version} is already trained on these examples; reusing {adapter_dir}")
            return {**manifest.metrics, "model_version": version, "adapter_path": str(adapter_dir)}, True
    pairs = [(r["question"], r["context"], r["sql"], bool(r["label"])) for r in examples.iter_rows(named=True)]
    report = train_reward_model(handle, pairs, train, progress=log)
    metrics = report.as_metadata()
    save_adapter(
        handle,
        handle.tokenizer,
        adapter_dir,
        AdapterManifest(kind="reward", base_identity=handle.base_identity, settings=settings, data_version=version, metrics=metrics),
    )
    return {**metrics, "model_version": version, "adapter_path": str(adapter_dir)}, False


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
        known = dict(zip(same["pair_hash"].to_list(), same["score"].to_list()))
    todo = [i for i, h in enumerate(frame["pair_hash"].to_list()) if h not in known]
    scores = np.array([known.get(h, np.nan) for h in frame["pair_hash"].to_list()], dtype=np.float64)
    if todo:
        handle = reward.load(adapter_dir)
        pairs = [pool.select("question", "context", "sql").row(i) for i in todo]
        scores[todo] = handle.score(pairs, batch_size=reward.batch_size, progress=progress)
    scored = frame.with_columns(pl.Series("score", scores, dtype=pl.Float64)).select(list(SCORE_SCHEMA))
    return scored, len(frame) - len(todo)


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
