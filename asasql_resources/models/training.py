"""What both LoRA trainings share: the loop settings' checks and early stopping that keeps the best epoch's weights."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

MIN_SPLIT_EXAMPLES = 10  # below this, no validation split: too few to hold any out
GROUP_BATCHES = 8  # batches per length-sorted window when shuffling


@dataclass(frozen=True)
class TrainingSettings:
    """How a LoRA training loop runs: epochs, AdamW step, batch size, validation split and early stopping.

    Both trainings take it: the reward model's as is (with its own defaults), nl2sql_model's through SftSettings.
    """

    epochs: int = 2
    learning_rate: float = 1e-3
    batch_size: int = 8
    val_fraction: float = 0.1
    # Stop once `patience` epochs in a row have not brought the validation loss min_delta below its best;
    # min_delta keeps float noise from counting as progress.
    patience: int = 1
    min_delta: float = 1e-4
    seed: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        """Refuse settings that cannot train, naming the setting."""
        check_settings(self)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain values, for adapter manifests."""
        return asdict(self)


def check_settings(settings: TrainingSettings, extra: list[tuple[str, bool, str]] | None = None) -> None:
    """Refuse loop settings (and `extra` checks) that cannot train, naming the class and the setting."""
    checks = [
        ("epochs", settings.epochs >= 1, ">= 1"),
        ("learning_rate", settings.learning_rate > 0, "> 0"),
        ("batch_size", settings.batch_size >= 1, ">= 1"),
        ("val_fraction", 0 <= settings.val_fraction <= 0.5, "between 0 and 0.5"),
        ("patience", settings.patience >= 1, ">= 1"),
        ("min_delta", settings.min_delta >= 0, ">= 0"),
        ("weight_decay", settings.weight_decay >= 0, ">= 0"),
        ("max_grad_norm", settings.max_grad_norm > 0, "> 0"),
        *(extra or []),
    ]
    for name, ok, rule in checks:
        if not ok:
            raise ValueError(f"{type(settings).__name__}.{name} must be {rule}, got {getattr(settings, name)!r}")


class BestEpoch:
    """Early stopping on validation EX where measured, else loss: keeps the best epoch's record and weights."""

    def __init__(
        self, trainable: Mapping[str, torch.nn.Parameter], settings: TrainingSettings, validated: bool
    ) -> None:
        """Track `trainable`; without a validation split (`validated` False) every epoch counts as the best."""
        self.trainable = trainable
        self.patience = settings.patience
        self.min_delta = settings.min_delta
        self.validated = validated
        self.record: dict[str, Any] = {"val_loss": math.inf}
        self.weights: dict[str, torch.Tensor] = {}

    def stop_after(self, record: dict[str, Any]) -> bool:
        """Take one epoch's record (with `epoch`, `val_loss`, maybe `val_ex`); True when patience has run out."""
        if not self.validated or self._improves(record):
            self.record = record
            self.weights = {name: p.detach().clone() for name, p in self.trainable.items()}
            return False
        return record["epoch"] - self.record["epoch"] >= self.patience

    def _improves(self, record: dict[str, Any]) -> bool:
        """A higher validation EX wins where the records have one (answers are what counts), else a lower loss."""
        ex, best_ex = record.get("val_ex"), self.record.get("val_ex")
        if ex is not None and ex != best_ex:
            return best_ex is None or ex > best_ex
        return record["val_loss"] < self.record["val_loss"] - self.min_delta

    def restore(self) -> None:
        """Copy the best epoch's weights back into the trainable parameters."""
        with torch.no_grad():
            for name, p in self.trainable.items():
                p.copy_(self.weights[name])


def split_validation(labels: Sequence[bool], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified, seeded (train, val) indices; val is empty below MIN_SPLIT_EXAMPLES examples or at fraction 0.

    Each class gives round(fraction * its size) examples to val, at least one when it has two or more,
    and always keeps one for training.
    """
    if fraction <= 0 or len(labels) < MIN_SPLIT_EXAMPLES:
        return list(range(len(labels))), []
    rng = random.Random(seed)
    val: list[int] = []
    for label in (False, True):
        members = [i for i, value in enumerate(labels) if bool(value) == label]
        rng.shuffle(members)
        wanted = math.floor(fraction * len(members) + 0.5)
        val += members[: min(max(wanted, 1), len(members) - 1)]
    taken = set(val)
    return [i for i in range(len(labels)) if i not in taken], sorted(val)


def length_grouped_batches(
    lengths: Sequence[int], indices: Sequence[int], size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, sort each window of GROUP_BATCHES batches, shuffle batches."""
    order = list(indices)
    rng.shuffle(order)
    window = size * GROUP_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        group = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [group[i : i + size] for i in range(0, len(group), size)]
    rng.shuffle(batches)
    return batches
