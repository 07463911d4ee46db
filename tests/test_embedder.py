"""Tests of the Embedder resource (real bundled all-MiniLM-L6-v2) and the faiss dedup and k-means helpers."""

from __future__ import annotations

import math
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from asasql_resources.models.embedder import Embedder
from asasql_resources.models.locate import ModelNotFound, bundled_embedder
from asasql_resources.vectors import dedup
from asasql_resources.vectors.dedup import keep_mask, kmeans, near_duplicate_groups

QUESTIONS = [
    "How many customers live in Paris?",
    "What is the number of customers living in Paris?",
    "List the ten largest orders by amount.",
    "Show the 10 biggest orders ranked by amount.",
    "Which products were never ordered?",
    "How many customers live in Berlin?",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    """The default Embedder: the bundled all-MiniLM-L6-v2 on CPU."""
    return Embedder()


@pytest.fixture(scope="module")
def question_vectors(embedder: Embedder) -> np.ndarray:
    """QUESTIONS embedded as documents."""
    return embedder.encode(QUESTIONS)


def unit(*degrees: float) -> np.ndarray:
    """Rows of 2-D unit vectors at the given angles, in degrees."""
    radians = np.radians(np.array(degrees, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def cos(degrees: float) -> float:
    """The cosine of an angle in degrees."""
    return math.cos(math.radians(degrees))


@pytest.mark.bundled_model
def test_bundled_model_shape_and_norms(embedder: Embedder, question_vectors: np.ndarray) -> None:
    assert embedder.dimension == 384
    assert embedder.identity == str(bundled_embedder())
    assert question_vectors.shape == (len(QUESTIONS), 384)
    assert question_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(question_vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.bundled_model
def test_paraphrases_are_closer_than_unrelated_questions(question_vectors: np.ndarray) -> None:
    sims = question_vectors @ question_vectors.T
    assert sims[0, 1] > 0.9
    assert sims[2, 3] > 0.8
    assert sims[0, 1] > sims[0, 5] > sims[0, 4]
    assert sims[0, 2] < 0.4


@pytest.mark.bundled_model
def test_empty_input_has_the_model_dimension(embedder: Embedder) -> None:
    vectors = embedder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


@pytest.mark.bundled_model
def test_query_instruction_changes_queries_only(embedder: Embedder, question_vectors: np.ndarray) -> None:
    instructed = Embedder(query_instruction="Represent this question for retrieving SQL: ")
    texts = QUESTIONS[:2]
    np.testing.assert_allclose(instructed.encode(texts), question_vectors[:2], atol=1e-5)
    np.testing.assert_allclose(embedder.encode(texts, is_query=True), question_vectors[:2], atol=1e-5)
    queries = instructed.encode(texts, is_query=True)
    assert np.all(np.abs(queries - question_vectors[:2]).max(axis=1) > 1e-3)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        ("missing", "no such folder"),
        ("empty", "not a sentence-transformers folder"),
        ("bad-config", "cannot load"),
    ],
)
def test_bad_model_path_names_the_setting(tmp_path: Path, folder: str, reason: str) -> None:
    path = tmp_path / folder
    if folder != "missing":
        path.mkdir()
    if folder == "bad-config":
        (path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match=re.escape(f"ASASQL_EMBED_MODEL='{path}': {reason}")):
        Embedder(model=str(path)).encode(["x"])


@pytest.mark.bundled_model
def test_embedder_runs_as_a_dagster_resource_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASASQL_EMBED_MODEL", str(bundled_embedder()))

    @dg.asset
    def vectors(embedder: Embedder) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"shape": list(embedder.encode(QUESTIONS[:3]).shape)})

    result = dg.materialize([vectors], resources={"embedder": Embedder(model=dg.EnvVar("ASASQL_EMBED_MODEL"))})
    assert result.success
    [materialization] = result.asset_materializations_for_node("vectors")
    assert materialization.metadata["shape"].value == [3, 384]


# (id, vectors, threshold, expected groups)
DEDUP_CASES = [
    ("no-rows", np.zeros((0, 3), dtype=np.float32), 0.9, []),
    ("one-row", unit(10), 0.9, [0]),
    ("exact-duplicate-at-1.0", unit(20, 20, 20), 1.0, [0, 0, 0]),
    ("scaled-copy-is-a-duplicate", np.array([[1, 2], [3, 6]], dtype=np.float32), 0.99, [0, 0]),
    ("above-1-keeps-everything", unit(20, 20), 1.01, [0, 1]),
    ("near-duplicate-above", unit(0, 10), cos(15), [0, 0]),
    ("near-duplicate-below", unit(0, 20), cos(15), [0, 1]),
    ("exactly-at-threshold", unit(0, 60), 0.5, [0, 0]),
    ("chain-keeps-the-far-end", unit(0, 30, 60), cos(35), [0, 0, 2]),
    ("order-matters", unit(30, 0, 60), cos(35), [0, 0, 0]),
    ("points-at-the-most-similar-kept", unit(0, 50, 28), cos(30), [0, 1, 1]),
    ("dropped-rows-attract-nothing", unit(0, 30, 60, 61), cos(35), [0, 0, 2, 2]),
    ("zero-vector-is-kept", np.array([[0, 0], [1, 0], [0, 0]], dtype=np.float32), 0.5, [0, 1, 2]),
]


@pytest.mark.parametrize(
    ("vectors", "threshold", "expected"), [case[1:] for case in DEDUP_CASES], ids=[case[0] for case in DEDUP_CASES]
)
def test_near_duplicate_groups(vectors: np.ndarray, threshold: float, expected: list[int]) -> None:
    assert near_duplicate_groups(vectors, threshold) == expected
    assert keep_mask(vectors, threshold).tolist() == [group == row for row, group in enumerate(expected)]


def brute_force_groups(vectors: np.ndarray, threshold: float) -> list[int]:
    """The greedy rule, written plainly over a dense similarity matrix."""
    rows = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = rows @ rows.T
    groups: list[int] = []
    kept: list[int] = []
    for row in range(len(rows)):
        best = max(kept, key=lambda k: (sims[row, k], -k), default=None)
        if best is not None and sims[row, best] >= threshold - dedup.TOLERANCE:
            groups.append(best)
        else:
            groups.append(row)
            kept.append(row)
    return groups


@pytest.mark.parametrize("block_rows", [1, 7, 1024])
def test_blocks_agree_with_brute_force(monkeypatch: pytest.MonkeyPatch, block_rows: int) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(12, 16))
    vectors = (centers[rng.integers(0, 12, size=300)] + rng.normal(scale=0.25, size=(300, 16))).astype(np.float32)
    vectors[50] = vectors[3]
    monkeypatch.setattr(dedup, "BLOCK_ROWS", block_rows)
    groups = near_duplicate_groups(vectors, 0.95)
    assert groups == brute_force_groups(vectors, 0.95)
    assert groups[50] == groups[3]
    assert 12 <= sum(keep_mask(vectors, 0.95)) < 300


@pytest.mark.bundled_model
def test_dedup_of_real_question_embeddings(question_vectors: np.ndarray) -> None:
    assert near_duplicate_groups(question_vectors, 0.85) == [0, 0, 2, 2, 4, 5]
    assert keep_mask(question_vectors, 0.99).all()


def test_dedup_rejects_a_flat_array() -> None:
    with pytest.raises(ValueError, match="2-D"):
        near_duplicate_groups(np.zeros(4, dtype=np.float32), 0.9)


def test_kmeans_separates_clusters_deterministically() -> None:
    vectors = unit(0, 2, 4, 90, 92, 94, 180, 182)
    assignments, centroids = kmeans(vectors, 3, seed=7)
    assert centroids.shape == (3, 2)
    assert centroids.dtype == np.float32
    assert assignments.dtype == np.int64
    assert len(set(assignments[:3])) == len(set(assignments[3:6])) == len(set(assignments[6:])) == 1
    assert len(set(assignments.tolist())) == 3
    again, again_centroids = kmeans(vectors, 3, seed=7)
    np.testing.assert_array_equal(again, assignments)
    np.testing.assert_array_equal(again_centroids, centroids)


def test_kmeans_clips_k_to_the_rows() -> None:
    assignments, centroids = kmeans(unit(0, 90, 180), 10, seed=0)
    assert centroids.shape == (3, 2)
    assert sorted(assignments.tolist()) == [0, 1, 2]
    empty_assignments, empty_centroids = kmeans(np.zeros((0, 5), dtype=np.float32), 4, seed=0)
    assert empty_assignments.shape == (0,)
    assert empty_centroids.shape == (0, 5)
    with pytest.raises(ValueError, match="at least 1"):
        kmeans(unit(0), 0, seed=0)
