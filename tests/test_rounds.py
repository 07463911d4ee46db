"""Round keys, the stopping rule, and what earlier rounds leave in the warehouse (labels, versions, staleness)."""

import json
from pathlib import Path

import polars as pl
import pytest

from asasql_assets.active.history import MissingRound, earlier_labels, labeled_ids, stale_rounds
from asasql_assets.active.rounds import StopRule
from asasql_assets.partitions import round_key, round_number
from asasql_resources.reward.pairs import training_frame, with_context
from asasql_resources.warehouse import Home, content_hash, write_frame


@pytest.mark.parametrize(("key", "number"), [("round_0", 0), ("round_7", 7), ("round_12", 12), (" round_3 ", 3)])
def test_round_keys_round_trip(key: str, number: int) -> None:
    assert round_number(key) == number
    assert round_key(number) == key.strip()


@pytest.mark.parametrize("key", ["round_", "round_-1", "round_01", "Round_1", "r1", "round_1a", ""])
def test_a_malformed_round_key_is_refused_with_the_expected_form(key: str) -> None:
    with pytest.raises(ValueError, match="rounds are named round_0, round_1"):
        round_number(key)


@pytest.mark.parametrize(
    ("rule", "number", "accuracy", "reason"),
    [
        (StopRule(2), 0, 0.99, None),
        (StopRule(2), 2, 0.5, "ran the 2 round(s)"),
        (StopRule(0), 0, None, "ran the 0 round(s)"),
        (StopRule(5, 0.9), 1, 0.91, "round_1: validation accuracy 0.910 reached the target 0.900"),
        (StopRule(5, 0.9), 1, 0.89, None),
        (StopRule(5, 0.9), 1, None, None),
    ],
)
def test_stop_rule_after_the_model(rule: StopRule, number: int, accuracy: float | None, reason: str | None) -> None:
    found = rule.after_model(number, accuracy)
    assert found == reason if reason is None else reason in found


def test_stop_rule_after_an_empty_selection_and_bad_settings() -> None:
    assert StopRule(3).after_selection(1, 4) is None
    assert "no unlabeled, selectable candidates left" in StopRule(3).after_selection(1, 0)
    with pytest.raises(ValueError, match="--rounds"):
        StopRule(-1)
    with pytest.raises(ValueError, match="--target-accuracy"):
        StopRule(2, 1.5)


def _labels(ids: list[str], label: bool = True) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "candidate_id": ids,
            "question": [f"q {i}" for i in ids],
            "sql": ["SELECT 1"] * len(ids),
            "table": ["(t;a table)"] * len(ids),
            "column": [""] * len(ids),
            "label": [label] * len(ids),
        }
    )


def _write(home: Home, asset: str, partition: str, frame: pl.DataFrame) -> str:
    version = content_hash(frame)
    write_frame(frame, home.asset_file(asset, partition), version)
    return version


def test_earlier_labels_reads_every_earlier_round_with_its_version(tmp_path: Path) -> None:
    home = Home(tmp_path)
    v0 = _write(home, "labeled_rounds", "round_0", _labels(["a", "b"]))
    v1 = _write(home, "labeled_rounds", "round_1", _labels(["c"], label=False))
    _write(home, "labeled_rounds", "round_2", _labels(["later"]))
    labels, versions = earlier_labels(home, 2)
    assert versions == {"labeled_rounds[round_0]": v0, "labeled_rounds[round_1]": v1}
    assert labels["label_round"].to_list() == [0, 0, 1]
    assert labeled_ids(labels) == {"a", "b", "c"}
    assert earlier_labels(home, 0)[0].is_empty()


def test_a_round_before_its_predecessors_are_labeled_is_refused(tmp_path: Path) -> None:
    home = Home(tmp_path)
    _write(home, "labeled_rounds", "round_0", _labels(["a"]))
    with pytest.raises(
        MissingRound, match="round_3 builds on .* round_1, round_2 are not labeled yet; run round_1 first"
    ):
        earlier_labels(home, 3)


def test_stale_rounds_names_models_trained_on_labels_that_changed(tmp_path: Path) -> None:
    home = Home(tmp_path)
    v0 = _write(home, "labeled_rounds", "round_0", _labels(["a"]))
    for number, trained_on in [(0, {}), (1, {"labeled_rounds[round_0]": v0})]:
        _write(home, "reward_model", f"round_{number}", pl.DataFrame({"trained_on": [json.dumps(trained_on)]}))
    assert stale_rounds(home) == []
    _write(home, "labeled_rounds", "round_0", _labels(["a", "new"]))
    assert stale_rounds(home) == ["round_1 (trained on labeled_rounds[round_0], which changed)"]


def test_training_frame_is_samples_then_labels_with_the_seed_context() -> None:
    samples = pl.DataFrame(
        {
            "origin_query": ["how many?"],
            "sql": ["SELECT count(*) FROM t"],
            "table": ["(t;a table)"],
            "column": ["(c;列;a column;[1])"],
            "label": [False],
        }
    )
    labels = _labels(["a"]).with_columns(pl.lit(0).alias("label_round"))
    frame = training_frame(samples, labels)
    assert frame.to_dicts() == [
        {
            "question": "how many?",
            "context": "(t;a table)\n(c;列;a column;[1])",
            "sql": "SELECT count(*) FROM t",
            "label": False,
            "source": "data_sample",
        },
        {"question": "q a", "context": "(t;a table)", "sql": "SELECT 1", "label": True, "source": "round_0"},
    ]
    assert with_context(pl.DataFrame({"table": [None], "column": ["(c)"]}))["context"].to_list() == ["(c)"]
