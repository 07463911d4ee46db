"""Tests of reward-model training: learning, seeding, early stopping, best-epoch restore, splits and metrics."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from asasql_resources.models.training import TrainingSettings, split_validation
from asasql_resources.reward.model import RewardModelHandle, RewardSettings, load_reward_model
from asasql_resources.reward.training import REWARD_TRAINING, binary_metrics, train_reward_model

SCHEMA = "users(id; name; city; age)\norders(id; user_id; amount; status; day)\nitems(id; title; price; stock)"
COLUMNS = {
    "users": ["name", "city", "age"],
    "orders": ["amount", "status", "day"],
    "items": ["title", "price", "stock"],
}
Example = tuple[str, str, str, bool]


def filtered(table: str, column: str, value: int) -> str:
    """A query with a WHERE clause: the toy task's correct SQL."""
    return f"SELECT {column} FROM {table} WHERE {column} = {value}"


def toy_examples() -> list[Example]:
    """54 examples, 36 correct: the SQL is correct exactly when it has a WHERE clause."""
    examples: list[Example] = []
    for table, columns in COLUMNS.items():
        for column in columns:
            for value in (1, 2, 3, 4):
                question = f"Which {column} of {table} matches {value}?"
                examples.append((question, SCHEMA, filtered(table, column, value), True))
                if value <= 2:
                    examples.append((question, SCHEMA, f"SELECT {column} FROM {table}", False))
    return examples


def contradicting_validation(examples: list[Example], settings: TrainingSettings) -> list[Example]:
    """The toy examples with the rule reversed on the validation split, so learning it can only hurt val loss."""
    _, val = split_validation([label for *_, label in examples], settings.val_fraction, settings.seed)
    flipped = list(examples)
    for i in val:
        question, schema, sql, label = examples[i]
        table, column = sql.split(" FROM ")[1].split()[0], sql.split()[1]
        flipped[i] = (question, schema, f"SELECT {column} FROM {table}" if label else filtered(table, column, 9), label)
    return flipped


def pairs(examples: Sequence[Example]) -> list[tuple[str, str, str]]:
    """The (question, schema, sql) part of examples."""
    return [example[:3] for example in examples]


def separation(handle: RewardModelHandle, examples: Sequence[Example]) -> float:
    """Mean score of correct examples minus mean score of incorrect ones."""
    scores = handle.score(pairs(examples))
    labels = np.array([label for *_, label in examples])
    return float(scores[labels].mean() - scores[~labels].mean())


@pytest.fixture(scope="module")
def reward_settings(tiny_model: Path) -> RewardSettings:
    """The tiny Llama as a reward base, with short sequences."""
    return RewardSettings(base=str(tiny_model), max_length=64)


@pytest.fixture
def handle(reward_settings: RewardSettings) -> RewardModelHandle:
    """A fresh, untrained reward model."""
    return load_reward_model(reward_settings, None)


def test_training_learns_a_separable_task(handle: RewardModelHandle) -> None:
    examples = toy_examples()
    before = separation(handle, examples)
    messages: list[str] = []
    settings = replace(REWARD_TRAINING, epochs=4, learning_rate=5e-3, batch_size=8, val_fraction=0.25, patience=4)
    report = train_reward_model(handle, examples, settings, progress=messages.append)
    losses = [row["train_loss"] for row in report.history]
    assert losses[-1] < losses[0] and report.epochs_run == 4 == len(messages)
    assert separation(handle, examples) > max(before, 0) + 0.3
    assert report.val_auc is not None and report.val_auc > 0.9 and report.metrics_split == "val"
    assert (report.n_train, report.n_val, report.n_positive, report.n_negative) == (40, 14, 36, 18)
    assert report.tp + report.fp + report.tn + report.fn == report.n_val
    line = r"epoch 1/4: train_loss \d\.\d{3} val_loss \d\.\d{3} val_acc \d\.\d\d val_auc \d\.\d\d"
    assert re.fullmatch(line, messages[0]), messages[0]
    assert not handle.model.training
    json.dumps(report.as_metadata())


def test_seeded_training_is_reproducible(reward_settings: RewardSettings) -> None:
    settings = replace(REWARD_TRAINING, epochs=2, learning_rate=5e-3, batch_size=8)
    runs = []
    for seed, caller_seed in ((0, 1), (0, 2), (1, 1)):
        torch.manual_seed(caller_seed)  # the caller's global RNG must not matter
        trained = load_reward_model(reward_settings, None)
        train_reward_model(trained, toy_examples(), replace(settings, seed=seed))
        runs.append(trained.score(pairs(toy_examples())))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2], atol=1e-4)


def test_early_stopping_restores_the_best_epoch(handle: RewardModelHandle) -> None:
    settings = replace(REWARD_TRAINING, epochs=8, learning_rate=5e-3, batch_size=8, val_fraction=0.25, patience=2)
    examples = contradicting_validation(toy_examples(), settings)
    report = train_reward_model(handle, examples, settings)
    val_losses = [row["val_loss"] for row in report.history]
    assert report.epochs_run == report.best_epoch + settings.patience < settings.epochs
    assert report.val_loss == min(val_losses) < val_losses[-1] - 0.05
    labels = np.array([label for *_, label in examples])
    train, val = split_validation(labels.tolist(), settings.val_fraction, settings.seed)
    weight = {True: len(train) / (2 * labels[train].sum()), False: len(train) / (2 * (~labels[train]).sum())}
    scores = handle.score([examples[i][:3] for i in val]).astype(np.float64)
    recomputed = np.mean(
        [-weight[labels[i]] * math.log(p if labels[i] else 1 - p) for i, p in zip(val, scores, strict=False)]
    )
    assert recomputed == pytest.approx(report.val_loss, rel=1e-4)


def test_few_examples_train_every_epoch_and_report_on_train(handle: RewardModelHandle) -> None:
    examples = toy_examples()[:6]
    settings = replace(REWARD_TRAINING, epochs=3, learning_rate=1e-9, patience=1)
    messages: list[str] = []
    report = train_reward_model(handle, examples, settings, progress=messages.append)
    assert (report.n_train, report.n_val, report.metrics_split) == (6, 0, "train")
    assert report.epochs_run == report.best_epoch == 3
    assert "train_loss" in messages[0] and "val_" not in messages[0]


@pytest.mark.parametrize(
    ("labels", "fraction", "val_positives", "val_negatives"),
    [
        ([True] * 30 + [False] * 70, 0.1, 3, 7),
        ([True] * 10 + [False] * 10, 0.25, 3, 3),  # rounds half up
        ([True] * 2 + [False] * 40, 0.1, 1, 4),  # a rare class still reaches val
        ([True] * 1 + [False] * 40, 0.1, 0, 4),  # a single example stays in train
        ([True] * 12 + [False] * 3, 0.5, 6, 2),  # half of 3 rounds to 2, leaving one to train on
        ([True] * 5 + [False] * 4, 0.5, 0, 0),  # too few examples to hold any out
        ([True] * 30 + [False] * 30, 0.0, 0, 0),
    ],
)
def test_split_validation_is_stratified_and_seeded(
    labels: list[bool], fraction: float, val_positives: int, val_negatives: int
) -> None:
    train, val = split_validation(labels, fraction, seed=0)
    assert sorted(train + val) == list(range(len(labels))) and not set(train) & set(val)
    assert (sum(labels[i] for i in val), sum(not labels[i] for i in val)) == (val_positives, val_negatives)
    assert split_validation(labels, fraction, seed=0) == (train, val)
    if len(val) >= 4:
        assert split_validation(labels, fraction, seed=1)[1] != val


@pytest.mark.parametrize(
    ("labels", "scores", "threshold", "expected"),
    [
        ([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], 0.5, {"accuracy": 0.5, "auc": 0.75, "tp": 1, "fp": 1, "tn": 1, "fn": 1}),
        ([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], 0.35, {"accuracy": 0.75, "auc": 0.75, "tp": 2, "fp": 1, "tn": 1, "fn": 0}),
        ([1, 0, 0], [0.5, 0.2, 0.2], 0.5, {"accuracy": 1.0, "auc": 1.0, "tp": 1, "fp": 0, "tn": 2, "fn": 0}),
        ([0, 1], [0.8, 0.3], 0.5, {"accuracy": 0.0, "auc": 0.0, "tp": 0, "fp": 1, "tn": 0, "fn": 1}),
        ([1, 1], [0.7, 0.2], 0.5, {"accuracy": 0.5, "auc": None, "tp": 1, "fp": 0, "tn": 0, "fn": 1}),
    ],
)
def test_binary_metrics(labels: list[int], scores: list[float], threshold: float, expected: dict) -> None:
    metrics = binary_metrics([bool(label) for label in labels], scores, threshold)
    assert metrics == pytest.approx(expected)
    assert {type(value) for value in metrics.values()} <= {float, int, type(None)}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("epochs", 0),
        ("learning_rate", 0.0),
        ("batch_size", 0),
        ("val_fraction", 0.6),
        ("patience", 0),
        ("min_delta", -1e-3),
        ("weight_decay", -0.1),
        ("max_grad_norm", 0.0),
    ],
)
def test_bad_settings_name_the_setting(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"TrainingSettings\.{setting} must be .*, got {value}"):
        TrainingSettings(**{setting: value})


def test_bad_examples_are_refused(handle: RewardModelHandle) -> None:
    correct = [example for example in toy_examples() if example[3]][:12]
    with pytest.raises(ValueError, match="need both correct and incorrect labels; got 12 correct, 0 incorrect"):
        train_reward_model(handle, correct, REWARD_TRAINING)
    with pytest.raises(ValueError, match="no examples"):
        train_reward_model(handle, [], REWARD_TRAINING)
    with pytest.raises(ValueError, match="2 labels, 3 scores"):
        binary_metrics([True, False], [0.1, 0.2, 0.3])
