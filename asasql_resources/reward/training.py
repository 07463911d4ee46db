"""LoRA fine-tuning of the reward model on labeled (question, schema context, SQL, correct?) examples."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from asasql_resources.models.adapters import AdapterManifest, load_manifest, model_version, save_adapter
from asasql_resources.models.training import BestEpoch, TrainingSettings, length_grouped_batches, split_validation
from asasql_resources.reward.model import RewardModel, RewardModelHandle

Example = tuple[str, str, str, bool]


# A fresh classification head and a few hundred examples: 2e-4 left MiniLM at chance on the demo pool, 1e-3 learns
# (benchmarks/label_efficiency.py); more epochs and patience than the SFT, whose base already knows its task.
REWARD_TRAINING = TrainingSettings(epochs=6, learning_rate=1e-3, batch_size=16, patience=2)


@dataclass(frozen=True)
class TrainReport:
    """What training did; the val_* figures and confusion are the best epoch's, on the split in metrics_split."""

    n_train: int
    n_val: int
    n_positive: int
    n_negative: int
    epochs_run: int
    best_epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_auc: float | None
    tp: int
    fp: int
    tn: int
    fn: int
    metrics_split: str
    seconds: float
    history: list[dict[str, Any]]

    def as_metadata(self) -> dict[str, Any]:
        """The report as plain values, for asset metadata and adapter manifests."""
        return asdict(self)


def binary_metrics(labels: Sequence[bool], scores: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, ROC AUC (None when labels have one class) and tp/fp/tn/fn of scores >= threshold."""
    truth = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores, dtype=np.float64) >= threshold
    if truth.size == 0 or truth.shape != predicted.shape:
        raise ValueError(f"need as many scores as labels, and some; got {truth.size} labels, {predicted.size} scores")
    both_classes = truth.any() and not truth.all()
    return {
        "accuracy": float((truth == predicted).mean()),
        "auc": float(roc_auc_score(truth, np.asarray(scores, dtype=np.float64))) if both_classes else None,
        "tp": int((truth & predicted).sum()),
        "fp": int((~truth & predicted).sum()),
        "tn": int((~truth & ~predicted).sum()),
        "fn": int((truth & ~predicted).sum()),
    }


def weighted_loss(
    logits: torch.Tensor, batch: Sequence[int], labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Summed class-weighted binary cross-entropy of a batch."""
    targets = labels[list(batch)]
    return F.binary_cross_entropy_with_logits(logits, targets, weight=weights[targets.long()], reduction="sum")


def evaluate(
    handle: RewardModelHandle,
    encoded: Sequence[list[int]],
    indices: Sequence[int],
    labels: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int,
) -> tuple[float, np.ndarray]:
    """Mean weighted loss and P(correct) of the examples at indices, in eval mode."""
    order = sorted(indices, key=lambda i: len(encoded[i]))
    total = 0.0
    scores: dict[int, float] = {}
    handle.model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            logits = handle.logits([encoded[i] for i in batch])
            total += weighted_loss(logits, batch, labels, weights).item()
            scores.update(zip(batch, torch.sigmoid(logits).tolist(), strict=True))
    return total / len(order), np.array([scores[i] for i in indices])


def train_epoch(
    handle: RewardModelHandle,
    encoded: Sequence[list[int]],
    batches: Sequence[Sequence[int]],
    labels: torch.Tensor,
    weights: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    max_grad_norm: float,
) -> float:
    """One pass of AdamW steps over batches, gradients clipped; returns the mean weighted loss."""
    handle.model.train()
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    total = 0.0
    for batch in batches:
        loss = weighted_loss(handle.logits([encoded[i] for i in batch]), batch, labels, weights)
        optimizer.zero_grad(set_to_none=True)
        (loss / len(batch)).backward()
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        total += loss.item()
    return total / sum(len(batch) for batch in batches)


def train_reward_model(
    handle: RewardModelHandle,
    examples: Sequence[Example],
    settings: TrainingSettings,
    progress: Callable[[str], None] | None = None,
) -> TrainReport:
    """Train the handle's LoRA and head in place; restore the best validation epoch and leave it in eval mode.

    Classes are balanced with per-example weights n_train / (2 * class count on the train split), so a chance
    model's loss is log 2 whatever the class ratio; the validation loss uses the same weights.
    Without a validation split (few examples), every epoch runs, the last is kept, and the val_* figures are
    measured on the train split (metrics_split "train").
    """
    label_list = [bool(example[3]) for example in examples]
    positives = sum(label_list)
    if not examples:
        raise ValueError("no examples to train the reward model on")
    if positives in (0, len(examples)):
        raise ValueError(
            f"need both correct and incorrect labels; got {positives} correct, {len(examples) - positives} incorrect"
        )
    started = time.perf_counter()
    train_idx, val_idx = split_validation(label_list, settings.val_fraction, settings.seed)
    eval_idx, split_name = (val_idx, "val") if val_idx else (train_idx, "train")
    labels = torch.tensor(label_list, dtype=torch.float32, device=handle.device)
    train_positives = int(labels[train_idx].sum())
    class_counts = torch.tensor([len(train_idx) - train_positives, train_positives], dtype=torch.float32)
    weights = (len(train_idx) / (2 * class_counts)).to(handle.device)
    encoded = [handle.encode(question, schema, sql) for question, schema, sql, _ in examples]
    lengths = [len(ids) for ids in encoded]
    trainable = {name: p for name, p in handle.model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW(trainable.values(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    rng = random.Random(settings.seed)
    history: list[dict[str, Any]] = []
    stopper = BestEpoch(trainable, settings, validated=bool(val_idx))
    try:
        with torch.random.fork_rng():
            torch.manual_seed(settings.seed)
            for epoch in range(1, settings.epochs + 1):
                batches = length_grouped_batches(lengths, train_idx, settings.batch_size, rng)
                train_loss = train_epoch(handle, encoded, batches, labels, weights, optimizer, settings.max_grad_norm)
                val_loss, scores = evaluate(handle, encoded, eval_idx, labels, weights, settings.batch_size)
                metrics = binary_metrics([label_list[i] for i in eval_idx], scores)
                history.append(
                    {
                        "epoch": epoch,
                        "train_loss": train_loss,
                        "val_loss": val_loss,
                        "val_accuracy": metrics["accuracy"],
                        "val_auc": metrics["auc"],
                    }
                )
                if progress is not None:
                    auc = "" if metrics["auc"] is None else f" {split_name}_auc {metrics['auc']:.2f}"
                    progress(
                        f"epoch {epoch}/{settings.epochs}: train_loss {train_loss:.3f} "
                        f"{split_name}_loss {val_loss:.3f} {split_name}_acc {metrics['accuracy']:.2f}{auc}"
                    )
                if stopper.stop_after({**history[-1], **metrics}):
                    break
        stopper.restore()
    finally:
        handle.model.eval()
    best = stopper.record
    return TrainReport(
        n_train=len(train_idx),
        n_val=len(val_idx),
        n_positive=positives,
        n_negative=len(examples) - positives,
        epochs_run=len(history),
        best_epoch=best["epoch"],
        train_loss=best["train_loss"],
        val_loss=best["val_loss"],
        val_accuracy=best["accuracy"],
        val_auc=best["auc"],
        tp=best["tp"],
        fp=best["fp"],
        tn=best["tn"],
        fn=best["fn"],
        metrics_split=split_name,
        seconds=time.perf_counter() - started,
        history=history,
    )


def train_round(
    reward: RewardModel,
    examples: pl.DataFrame,
    train: TrainingSettings,
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
        AdapterManifest(
            kind="reward", base_identity=handle.base_identity, settings=settings, data_version=version, metrics=metrics
        ),
    )
    return {**metrics, "model_version": version, "adapter_path": str(adapter_dir)}, False
