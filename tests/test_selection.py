"""Stage 2 selection: clustering, redundancy and the four batch strategies."""

import numpy as np
import polars as pl
import pytest

from asasql_assets.active.history import answered_questions
from asasql_assets.active.selection import (
    STRATEGIES,
    cluster_pool,
    redundant_members,
    select_batch,
    uncertainty_summary,
)
from asasql_assets.active.steps import cluster_and_select
from asasql_resources.models.embedder import Embedder

# Eligible margins |p-0.5|: c1 0.00, c2 0.40, c3 0.10, c4 0.05, c5 0.30, c7 0.15.
# Eligible sizes: cluster 0 = 3, cluster 1 = 2, cluster 2 = 1.
# Mean eligible margins: cluster 2 = 0.15 < cluster 0 = 0.167 < cluster 1 = 0.175.
POOL_ROWS = [
    # candidate_id, cluster_id, score, centroid_distance, redundant, labeled, selectable
    ("c1", 0, 0.50, 0.30, False, False, True),
    ("c2", 0, 0.90, 0.05, False, False, True),
    ("c3", 0, 0.60, 0.10, False, False, True),
    ("c4", 1, 0.45, 0.20, False, False, True),
    ("c5", 1, 0.20, 0.01, False, False, True),
    ("c6", 2, 0.52, 0.40, False, True, True),
    ("c7", 2, 0.35, 0.02, False, False, True),
    ("c8", 2, 0.49, 0.50, True, False, True),
    ("c9", 1, 0.51, 0.03, False, False, False),
]
COLUMNS = ["candidate_id", "cluster_id", "score", "centroid_distance", "redundant", "labeled", "selectable"]
ELIGIBLE = {"c1", "c2", "c3", "c4", "c5", "c7"}


def make_pool(rows: list[tuple]) -> pl.DataFrame:
    """A pool frame from row tuples in COLUMNS order."""
    return pl.DataFrame(rows, schema=COLUMNS, orient="row")


def picked(result: pl.DataFrame) -> list[str]:
    """The selected candidate ids in selection_rank order."""
    return result.filter(pl.col("selected")).sort("selection_rank")["candidate_id"].to_list()


@pytest.mark.parametrize(
    ("strategy", "budget", "expected"),
    [
        ("uncertainty", 3, ["c1", "c4", "c3"]),
        ("uncertainty", 4, ["c1", "c4", "c3", "c7"]),
        ("diversity", 3, ["c2", "c5", "c7"]),
        ("diversity", 5, ["c2", "c5", "c7", "c3", "c4"]),
        ("hybrid", 4, ["c7", "c1", "c4", "c3"]),
        ("hybrid", 6, ["c7", "c1", "c4", "c3", "c5", "c2"]),
        ("hybrid", 100, ["c7", "c1", "c4", "c3", "c5", "c2"]),
    ],
)
def test_strategies_pick_hand_computed_batches(strategy: str, budget: int, expected: list[str]) -> None:
    assert picked(select_batch(make_pool(POOL_ROWS), budget, strategy, seed=0)) == expected


def test_reasons_explain_every_row() -> None:
    result = select_batch(make_pool(POOL_ROWS), 4, "hybrid", seed=0)
    reasons = dict(zip(result["candidate_id"], result["reason"], strict=True))
    assert reasons["c1"] == "selected: most uncertain in cluster 0 (|p-0.5|=0.00)"
    assert reasons["c3"] == "selected: #2 most uncertain in cluster 0 (|p-0.5|=0.10)"
    assert reasons["c6"] == "already labeled"
    assert reasons["c8"] == "redundant"
    assert reasons["c9"] == "not selectable"
    assert reasons["c5"] == "not selected"
    assert result["selection_rank"].to_list() == [2, None, 4, 3, None, None, 1, None, None]
    assert result.columns == [*COLUMNS, "selected", "selection_rank", "reason"]


def test_diversity_reason_names_the_centroid_distance() -> None:
    result = select_batch(make_pool(POOL_ROWS), 1, "diversity", seed=0)
    assert result.filter(pl.col("selected"))["reason"].to_list() == [
        "selected: nearest the centroid in cluster 0 (distance=0.05)"
    ]


@pytest.mark.parametrize("strategy", ["uncertainty", "diversity", "hybrid"])
def test_ties_are_broken_by_candidate_id(strategy: str) -> None:
    rows = [(name, 0, score, 0.1, False, False, True) for name, score in [("b", 0.25), ("a", 0.75), ("c", 0.25)]]
    assert picked(select_batch(make_pool(rows), 2, strategy, seed=0)) == ["a", "b"]


def test_random_is_a_seeded_sample_of_the_eligible() -> None:
    pool = make_pool(POOL_ROWS)
    first = picked(select_batch(pool, 3, "random", seed=7))
    assert len(first) == 3 and set(first) <= ELIGIBLE
    assert picked(select_batch(pool, 3, "random", seed=7)) == first
    assert picked(select_batch(pool.reverse(), 3, "random", seed=7)) == first
    assert sorted(picked(select_batch(pool, 100, "random", seed=7))) == sorted(ELIGIBLE)


def test_random_changes_with_the_seed() -> None:
    rows = [(f"q{index:02d}", 0, 0.5, 0.1, False, False, True) for index in range(40)]
    draws = {tuple(picked(select_batch(make_pool(rows), 5, "random", seed=seed))) for seed in range(5)}
    assert len(draws) > 1


def random_pool(rng: np.random.Generator) -> pl.DataFrame:
    """A pool of 0-30 rows with random clusters, scores and flags."""
    size = int(rng.integers(0, 31))
    return pl.DataFrame(
        {
            "candidate_id": [f"q{index}" for index in rng.permutation(size)],
            "cluster_id": rng.integers(0, 5, size),
            "score": rng.choice([0.1, 0.3, 0.5, 0.7, rng.random()], size),
            "centroid_distance": rng.choice([0.0, 0.2, rng.random()], size),
            "redundant": rng.random(size) < 0.2,
            "labeled": rng.random(size) < 0.3,
            "selectable": rng.random(size) < 0.8,
        },
        schema_overrides={"cluster_id": pl.Int64},
    )


def test_never_selects_an_ineligible_row_and_fills_the_budget() -> None:
    rng = np.random.default_rng(2024)
    for trial in range(150):
        pool = random_pool(rng)
        budget = int(rng.integers(0, pool.height + 4))
        eligible = pool["selectable"] & ~pool["labeled"] & ~pool["redundant"]
        for strategy in STRATEGIES:
            result = select_batch(pool, budget, strategy, seed=trial)
            chosen = result.filter(pl.col("selected"))
            assert not (chosen["labeled"].any() or chosen["redundant"].any() or not chosen["selectable"].all())
            assert chosen.height == min(budget, int(eligible.sum()))
            assert sorted(chosen["selection_rank"]) == list(range(1, chosen.height + 1))
            assert result["reason"].null_count() == 0
            assert result.select(COLUMNS).equals(pool)
            if strategy in ("diversity", "hybrid"):
                clusters_with_eligible = pool.filter(eligible)["cluster_id"].n_unique()
                assert chosen["cluster_id"].n_unique() == min(chosen.height, clusters_with_eligible)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empty_pool_and_zero_budget(strategy: str) -> None:
    empty = select_batch(make_pool(POOL_ROWS).clear(), 5, strategy, seed=0)
    assert empty.height == 0 and empty.columns[-3:] == ["selected", "selection_rank", "reason"]
    nothing = select_batch(make_pool(POOL_ROWS), 0, strategy, seed=0)
    assert not nothing["selected"].any()
    assert nothing.filter(pl.col("candidate_id").is_in(list(ELIGIBLE)))["reason"].unique().to_list() == ["not selected"]


def test_unknown_strategy_names_the_setting() -> None:
    with pytest.raises(ValueError, match=r"`strategy`.*random, uncertainty, diversity, hybrid"):
        select_batch(make_pool(POOL_ROWS), 2, "greedy", seed=0)


def test_clustering_separates_three_blobs() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(8)[:3] * 10.0
    vectors = np.concatenate([center + rng.normal(scale=0.1, size=(20, 8)) for center in centers])
    clusters, distances = cluster_pool(vectors, 3, seed=1)
    blobs = [set(clusters[start : start + 20].tolist()) for start in (0, 20, 40)]
    assert all(len(blob) == 1 for blob in blobs)
    assert len(set.union(*blobs)) == 3
    assert distances.shape == (60,) and float(distances.max()) < 0.01 and float(distances.min()) >= 0.0
    again, _ = cluster_pool(vectors, 3, seed=1)
    assert np.array_equal(again, clusters)


def test_clustering_caps_k_and_handles_an_empty_pool() -> None:
    clusters, distances = cluster_pool(np.array([[1.0, 0.0], [0.0, 1.0]]), 5, seed=0)
    assert sorted(clusters.tolist()) == [0, 1]
    assert np.allclose(distances, 0.0, atol=1e-6)
    clusters, distances = cluster_pool(np.zeros((0, 4)), 3, seed=0)
    assert clusters.shape == (0,) and distances.shape == (0,)


def test_redundancy_is_within_a_cluster_only() -> None:
    vectors = np.array(
        [
            [1.0, 0.0, 0.0],
            [1.0, 0.01, 0.0],  # near copy of row 0, same cluster
            [0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0],  # copy of row 0, other cluster: kept
            [1.0, 0.0, 0.01],  # near copy of row 3, same cluster
        ]
    )
    redundant = redundant_members(vectors, np.array([0, 0, 0, 1, 1]), threshold=0.99)
    assert redundant.tolist() == [False, True, False, False, True]
    assert redundant_members(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), 0.99).tolist() == []


def test_uncertainty_summary() -> None:
    summary = uncertainty_summary(np.array([0.5, 0.55, 1.0, 0.0]))
    assert summary["uncertainty_mean"] == pytest.approx(0.475)
    assert summary["uncertainty_std"] == pytest.approx(np.std([1.0, 0.9, 0.0, 0.0]))
    assert summary["share_near_half"] == pytest.approx(0.5)
    empty = uncertainty_summary(np.array([]))
    assert empty == {"uncertainty_mean": 0.0, "uncertainty_std": 0.0, "share_near_half": 0.0}


@pytest.mark.parametrize(("failing", "expected"), [(False, [True, False, False]), (True, [True, True, False])])
def test_failing_pairs_are_selectable_on_request_and_references_still_bind(failing: bool, expected: list[bool]) -> None:
    candidates = pl.DataFrame(
        {
            "candidate_id": ["a", "b", "c"],
            "question_id": ["1", "2", "3"],
            "question": ["How many hosts?", "How many regions?", "Not in the bank?"],
            "sql": ["SELECT count(*) FROM hosts", "SELECT count(*) FROM nowhere", "SELECT 1"],
            "exec_ok": [True, False, True],
        }
    )
    scores = pl.DataFrame({"candidate_id": ["a", "b", "c"], "score": [0.5, 0.4, 0.6]})
    table = cluster_and_select(
        candidates,
        scores,
        Embedder(),
        labeled=set(),
        references={"How many hosts?", "How many regions?"},
        k=1,
        budget=3,
        strategy="uncertainty",
        redundancy_threshold=0.99,
        seed=0,
        failing_selectable=failing,
    )
    assert table.sort("candidate_id")["selectable"].to_list() == expected
    assert table.filter(pl.col("selected"))["candidate_id"].sort().to_list() == [
        c for c, ok in zip("abc", expected, strict=True) if ok
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_pair_per_question_and_answered_questions_are_left_out(strategy: str) -> None:
    # c1, c2, c3 ask question q1; c4, c5 ask q2; c7 asks q3, which is already answered.
    questions = {
        "c1": "q1",
        "c2": "q1",
        "c3": "q1",
        "c4": "q2",
        "c5": "q2",
        "c6": "q4",
        "c7": "q3",
        "c8": "q5",
        "c9": "q6",
    }
    pool = make_pool(POOL_ROWS).with_columns(pl.col("candidate_id").replace_strict(questions).alias("question_id"))
    result = select_batch(pool, 6, strategy, seed=0, settled={"q3"}, one_per_question=True)
    chosen = result.filter(pl.col("selected"))
    assert sorted(chosen["question_id"].to_list()) == ["q1", "q2"]
    reasons = dict(zip(result["candidate_id"], result["reason"], strict=True))
    assert reasons["c7"] == "question already answered"
    assert {reasons[c] for c in ("c1", "c2", "c3", "c4", "c5") if c not in chosen["candidate_id"]} == {
        "another pair of its question was selected"
    }
    assert picked(select_batch(pool, 6, strategy, seed=0)) == picked(
        select_batch(make_pool(POOL_ROWS), 6, strategy, seed=0)
    )


def test_answered_questions_are_those_labeled_correct_or_corrected() -> None:
    labels = pl.DataFrame(
        {
            "question": ["a", "a", "b", "c"],
            "label": [False, True, False, None],
            "source": ["candidate", "corrected", "candidate", "candidate"],
        }
    )
    assert answered_questions(labels) == {"a"}
    assert answered_questions(pl.DataFrame()) == set()
