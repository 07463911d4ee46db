"""nl2sql_model as plain functions: the training examples of a dataset, and a LoRA SFT that is reused when unchanged."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from asasql_resources.models.adapters import load_manifest, model_version
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.examples import BANK_FILE, ExampleBank
from asasql_resources.nl2sql.finetune import (
    EpochScore,
    SftExample,
    SftSettings,
    merge_and_save,
    save_sft_adapter,
    train_sft,
)
from asasql_resources.nl2sql.predict import Predictor
from asasql_resources.warehouse import write_frame

LABELED_SOURCES = ("data_sample", "labeled", "corrected")


class EpochJudge(Protocol):
    """What scores each epoch of a fine-tune (the gate's validation pairs); its identity enters the adapter version."""

    identity: str

    def scorer(self, schema_context: str, dialect: str, bank: ExampleBank | None) -> EpochScore: ...


class EmptyTrainingSet(ValueError):
    """The training set has no rows; the message names the rule that removed them."""


def training_examples(predictor: Predictor, dataset: pl.DataFrame) -> list[SftExample]:
    """One (prompt, SQL) example per dataset row, its prompt showing the nearest other pair of the bank."""
    questions = dataset["question"].to_list()
    prompts = predictor.prompts(questions, predictor.examples(questions, training=True))
    return list(zip(prompts, dataset["sql"].to_list(), strict=True))


def labeled_only(dataset: pl.DataFrame) -> pl.DataFrame:
    """The rows a person (or the reference annotator) labeled: the ablation without synthetic data."""
    return dataset.filter(pl.col("source").is_in(LABELED_SOURCES))


def check_not_empty(dataset: pl.DataFrame, emptied_by: str | None, what: str = "filtered_dataset") -> None:
    """Raise EmptyTrainingSet when there is nothing to train on, naming the rule that removed everything."""
    if dataset.is_empty():
        cause = f"the rule {emptied_by!r} removed the last rows" if emptied_by else "it has no rows"
        raise EmptyTrainingSet(
            f"{what} is empty ({cause}); nothing to fine-tune the NL2SQL model on. Loosen that rule in "
            "filtered_dataset's config (threshold, drop_empty_results) or label more rounds"
        )


def train_or_reuse(
    base: Nl2SqlBase,
    dataset: pl.DataFrame,
    schema_context: str,
    dialect: str,
    settings: SftSettings,
    adapter_dir: Path,
    log: Callable[[str], None],
    embedder: Embedder | None = None,
    merged_dir: Path | None = None,
    judge: EpochJudge | None = None,
) -> tuple[dict[str, Any], bool]:
    """Fine-tune on the dataset and save the adapter (reused when this exact version is saved); metrics and reuse.

    With an embedder, the dataset is the example bank: each training prompt shows the nearest other pair, and
    the bank is saved with the adapter (examples.parquet) for inference. The version covers the pairs, the
    schema context, the settings, the embedder and the base. The adapter is swapped in only once training
    ends, so an interrupted run leaves the previous one in place. With merged_dir, the merged weights are
    written there too. With a judge, the epoch kept is the one whose answers score best (`train_sft`'s score).
    """
    location = base.location()
    pairs = dataset.select("question", "sql").with_columns(pl.lit(schema_context).alias("context"))
    described = {
        **settings.as_dict(),
        "dialect": dialect,
        "examples": embedder.identity if embedder else None,
        **({"epochs_judged_on": judge.identity} if judge is not None else {}),
    }
    version = model_version(pairs, described, location.identity)
    reused = _saved_version(adapter_dir) == version and (merged_dir is None or (merged_dir / "config.json").exists())
    if reused:
        log(f"nl2sql model {version} is already trained on these examples; reusing {adapter_dir}")
        metrics = load_manifest(adapter_dir).metrics
    else:
        bank = ExampleBank(dataset, embedder) if embedder is not None else None
        examples = training_examples(Predictor(None, schema_context, dialect, bank), dataset)
        score = judge.scorer(schema_context, dialect, bank) if judge is not None else None
        model, tokenizer, report = train_sft(location, examples, settings, log, base.checked_device(), score)
        save_bank = (lambda folder: write_frame(bank.pairs, folder / BANK_FILE)) if bank is not None else None
        save_sft_adapter(model, tokenizer, adapter_dir, location, settings, report, version, save_bank)
        if merged_dir is not None:
            merge_and_save(model, tokenizer, merged_dir)
        metrics = report.as_metadata()
        del model
        gc.collect()  # the trained copy of the base (gigabytes, in reference cycles) is not needed past here
    return {**metrics, "model_version": version, "adapter_path": str(adapter_dir), "base": location.identity}, reused


def _saved_version(adapter_dir: Path) -> str | None:
    """The data version in the manifest of the adapter saved in adapter_dir, or None."""
    if not (adapter_dir / "manifest.json").exists():
        return None
    return load_manifest(adapter_dir).data_version
