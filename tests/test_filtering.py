"""filtered_dataset's rules, in order, with the waterfall; the labeled positives; the F1 threshold."""

import polars as pl
import pytest

from asasql_assets.finetune.filtering import f1_threshold, filter_dataset


def _candidate(cid: str, question: str, **overrides: object) -> dict[str, object]:
    row = {
        "candidate_id": cid,
        "question": question,
        "table_name": "t",
        "sql": f"SELECT {cid}",
        "parse_ok": True,
        "unknown_tables": [],
        "unknown_columns": [],
        "exec_ok": True,
        "empty_result": False,
        "table": "(t;a table)",
        "column": "",
    }
    return row | overrides


CANDIDATES = pl.DataFrame(
    [
        _candidate("a", "q1"),
        _candidate("b", "q1"),
        _candidate("c", "q2", sql=None, parse_ok=False),
        _candidate("d", "q3", parse_ok=False),
        _candidate("e", "q4", unknown_columns=["t.nope"]),
        _candidate("f", "q5", exec_ok=False),
        _candidate("g", "q6", empty_result=True),
        _candidate("h", "q7"),
        _candidate("i", "Held out?"),
        _candidate("j", "q8"),
        _candidate("k", "q9"),
    ]
)
SCORES = pl.DataFrame(
    {"candidate_id": list("abcdefghijk"), "score": [0.9, 0.7, None, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.2, 0.8]}
)
LABELS = pl.DataFrame(
    {
        "candidate_id": ["h", "k", "k#corrected", "z"],
        "question": ["q7", "q9", "q9", "q10"],
        "sql": ["SELECT h", "SELECT k", "SELECT fixed", "SELECT z"],
        "table": ["(t;a table)"] * 4,
        "column": [""] * 4,
        "label": [False, False, True, True],
        "source": ["candidate", "candidate", "corrected", "candidate"],
    }
)


def test_rules_apply_in_order_and_labeled_positives_are_added() -> None:
    dataset, waterfall = filter_dataset(
        CANDIDATES, SCORES, LABELS, ["held out"], threshold=0.5, drop_empty_results=True, best_per_question=True
    )
    assert dict(waterfall.select("rule", "dropped").iter_rows()) == {
        "candidates": 0,
        "no_sql": 1,
        "parse_error": 1,
        "unknown_table_or_column": 1,
        "exec_error": 1,
        "empty_result": 1,
        "labeled_incorrect": 2,
        "test_question": 1,
        "below_threshold": 1,
        "labeled_positives_added": -2,
        "duplicate_pair": 0,
        "not_best_for_question": 1,
    }
    left, dropped = waterfall["left"].to_list(), waterfall["dropped"].to_list()
    assert all(left[i] == left[i - 1] - dropped[i] for i in range(1, len(left))), "every row lost or added is counted"
    assert dataset.select("question", "sql", "source").rows() == [
        ("q1", "SELECT a", "synthetic"),
        ("q10", "SELECT z", "labeled"),
        ("q9", "SELECT fixed", "corrected"),
    ]
    assert dataset.filter(pl.col("source") == "corrected")["table_name"].to_list() == ["t"]


def test_settings_keep_empty_results_and_every_candidate_of_a_question() -> None:
    dataset, _ = filter_dataset(
        CANDIDATES, SCORES, LABELS, [], threshold=0.0, drop_empty_results=False, best_per_question=False
    )
    assert {"SELECT a", "SELECT b", "SELECT g", "SELECT i", "SELECT j"} <= set(dataset["sql"].to_list())


def test_a_labeled_pair_beats_a_higher_scored_synthetic_one() -> None:
    labels = LABELS.with_columns(
        pl.when(pl.col("candidate_id") == "z").then(pl.lit("q1")).otherwise("question").alias("question")
    )
    dataset, _ = filter_dataset(
        CANDIDATES, SCORES, labels, [], threshold=0.5, drop_empty_results=True, best_per_question=True
    )
    assert dataset.filter(pl.col("question") == "q1")["sql"].to_list() == ["SELECT z"]


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([True, True, False, False], [0.9, 0.8, 0.3, 0.1], 0.8),
        ([True, False, True, False], [0.9, 0.7, 0.6, 0.2], 0.6),
        ([True, True], [0.9, 0.1], None),
        ([False], [0.4], None),
    ],
)
def test_f1_threshold(labels: list[bool], scores: list[float], expected: float | None) -> None:
    assert f1_threshold(labels, scores) == (pytest.approx(expected) if expected is not None else None)
