"""Stage 3 assets: filtered_dataset, nl2sql_model and the labeled-only ablation nl2sql_model_labeled_only."""

from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from asasql_assets.failures import user_errors
from asasql_assets.finetune.filtering import emptied_by, filter_dataset, with_value_swaps
from asasql_assets.finetune.labels import all_labels, prospective_threshold
from asasql_assets.outputs import markdown_sample, table_output
from asasql_assets.partitions import round_number
from asasql_assets.plots import bars, lines
from asasql_assets.progress import progress_line
from asasql_assets.settings import TrainingConfig
from asasql_assets.versions import code_version
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.adapters import AdapterBaseMismatch, load_manifest
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.answer import SQL_MAX_NEW_TOKENS
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.finetune import SftSettings
from asasql_resources.nl2sql.gate import (
    BASE,
    FINE_TUNED,
    Measured,
    ValidationJudge,
    Verdict,
    gate_adapter,
    hold_out,
    record_verdict,
)
from asasql_resources.nl2sql.prompt import DEFAULT_CONTEXT_CHARS, domain_schema_context
from asasql_resources.nl2sql.training import EmptyTrainingSet, check_not_empty, labeled_only, train_or_reuse
from asasql_resources.reward.model import RewardModel
from asasql_resources.reward.scoring import score_pool
from asasql_resources.sandbox import SandboxSession, SqlSandbox
from asasql_resources.warehouse import WarehouseIOManager
from asasql_resources.warehouse.io_manager import DATA_VERSION_KEY, MATERIALIZED_PARTITIONS, PARTITIONS_KEY

GROUP = "stage3_finetune"
KINDS = {"polars", "parquet", "duckdb"}
DEFAULT_THRESHOLD = 0.5
EMPTIED_BY = "emptied_by"  # filtered_dataset metadata: the rule that removed the last rows
CODE_VERSION = code_version(__name__)


class FilteredDatasetConfig(dg.Config):
    """The rules of the training set."""

    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Minimum reward score. Unset: the F1-optimal threshold on labeled pairs scored by the model of "
        "their round (which had not seen them); 0.5 when there are no such pairs of both classes.",
    )
    drop_empty_results: bool = Field(default=True, description="An SQL with an empty result is dropped.")
    best_per_question: bool = Field(default=True, description="Keep only the best pair per question.")
    value_swaps_per_pair: int = Field(
        default=1,
        ge=0,
        description="Synthesis from the labeled pairs: up to this many variants of each, with a compared value "
        "(column = 'v', written once in the question) swapped for another catalog value in both, the new SQL "
        "executed; 0 turns it off.",
    )
    seed: int = Field(default=0, description="Seed of the value swaps.")


# The rounds that have labels and scores, as dicts {round key: frame}: the last round (and a round whose
# selection was empty) has a reward model but no labels, and often no scores.
MATERIALIZED_ROUNDS = dg.AssetIn(
    partition_mapping=dg.AllPartitionMapping(), metadata={PARTITIONS_KEY: MATERIALIZED_PARTITIONS}
)


@dg.asset(
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds=KINDS,
    ins={
        "reward_model": dg.AssetIn(partition_mapping=dg.LastPartitionMapping()),
        "reward_scores": MATERIALIZED_ROUNDS,
        "labeled_rounds": MATERIALIZED_ROUNDS,
    },
    description="One row per (question, SQL) training pair: candidates that parse, use known columns, execute and "
    "score over the threshold under the last round's reward model, plus every labeled positive and correction, "
    "the positive samples of data_sample.json, and value-swap variants of those labeled pairs; no test-set "
    "question. Inputs: reward_model of the last round (LastPartitionMapping); labeled_rounds and reward_scores of "
    "every round that has them (AllPartitionMapping, rounds not materialized are skipped: `asasql run --rounds N` "
    "ends with reward_model[round_N] alone). The pool's scores are reward_model[last]'s: reward_scores[last] "
    "where it exists (reward_scores[r] is reward_model[r]'s), and the pairs it lacks (all of them when the last "
    "round has only its reward model) are scored here with reward_model[last]. Each label round's own scores "
    "(from a model that had not seen those labels) choose the threshold.",
)
def filtered_dataset(
    context: dg.AssetExecutionContext,
    config: FilteredDatasetConfig,
    extracted_columns: pl.DataFrame,
    reward_model: pl.DataFrame,
    reward_scores: dict[str, pl.DataFrame],
    labeled_rounds: dict[str, pl.DataFrame],
    schema_catalog: pl.DataFrame,
    schema_catalog__samples: pl.DataFrame,
    schema_catalog__test_set: pl.DataFrame,
    domain: DomainResource,
    sandbox: SqlSandbox,
    reward_base: RewardModel,
) -> dg.Output[pl.DataFrame]:
    """Score the pool with the last reward model, apply the rules in order, add the labeled pairs and their swaps."""
    model = reward_model.row(0, named=True)
    last = context.asset_partition_key_for_input("reward_model")
    labels = all_labels(labeled_rounds)
    with user_errors():
        loaded = domain.load()
        scores, reused = score_pool(
            reward_base,
            Path(model["adapter_path"]),
            model["model_version"],
            extracted_columns,
            reward_scores.get(last),
            progress=progress_line(context.log.info, "filtered_dataset: scoring", "pairs"),
        )
    context.log.info(
        f"filtered_dataset: {reused} of {scores.height} pool scores from reward_scores[{last}], "
        f"{scores.height - reused} scored with reward_model[{last}]"
    )
    chosen = prospective_threshold(labels, reward_scores) if config.threshold is None else config.threshold
    threshold = DEFAULT_THRESHOLD if chosen is None else chosen
    test_questions = schema_catalog__test_set["question"].to_list()
    dataset, waterfall = filter_dataset(
        extracted_columns,
        scores,
        labels,
        test_questions,
        samples=schema_catalog__samples,
        threshold=threshold,
        drop_empty_results=config.drop_empty_results,
        best_per_question=config.best_per_question,
    )
    dialect = loaded.config.sql_dialect
    with sandbox.session(loaded.database_path, schema_catalog) as session:
        dataset, waterfall = with_value_swaps(
            dataset,
            waterfall,
            schema_catalog,
            dialect,
            lambda sql: session.execute(sql, dialect),
            test_questions,
            per_pair=config.value_swaps_per_pair,
            seed=config.seed,
            keep_empty=not config.drop_empty_results,
        )
    rules = waterfall.filter(pl.col("dropped") > 0)
    emptied = emptied_by(waterfall)
    if emptied:
        context.log.warning(f"filtered_dataset is empty: the rule {emptied!r} removed the last rows")
    by_source = dataset.group_by("source").len().sort("source")
    return table_output(
        dataset,
        {
            "pairs": dataset.height,
            "threshold": round(threshold, 4),
            "threshold_from": "setting"
            if config.threshold is not None
            else ("labels" if chosen is not None else "default"),
            "reward_model": model["model_version"],
            "reward_model_round": last,
            "reused_scores": reused,
            "label_rounds": ", ".join(sorted(labeled_rounds, key=round_number)) or "none",
            "waterfall": dg.MetadataValue.md(markdown_sample(waterfall, rows=waterfall.height)),
            "waterfall_plot": bars(
                rules["rule"].to_list(), {"rows dropped": rules["dropped"].to_list()}, "filter waterfall", "rows"
            ),
            "by_source": dg.MetadataValue.md(markdown_sample(by_source, rows=by_source.height)),
            **({EMPTIED_BY: emptied} if emptied else {}),
        },
    )


class Nl2SqlTrainingConfig(TrainingConfig):
    """How nl2sql_model is fine-tuned: the training loop, plus length, LoRA and prompt (base and dtype: `nl2sql_base`)."""

    max_length: int = Field(
        default=SftSettings.max_length, ge=16, description="Tokens per example; the context is cut first."
    )
    lora_r: int = Field(default=SftSettings.lora_r, ge=1, description="LoRA rank.")
    lora_layers: int | None = Field(
        default=15,
        ge=1,
        description="Adapt only the top this many decoder layers (unset: all); training stops its backward pass "
        "there, so fewer layers train faster (benchmarks/sft_speed.py).",
    )
    context_chars: int = Field(
        default=DEFAULT_CONTEXT_CHARS, ge=100, description="Characters of the domain schema context in every prompt."
    )
    example_in_prompt: bool = Field(
        default=True,
        description="Show in each prompt the labeled pair whose question is nearest (embedder, faiss): the training "
        "set is the example bank, saved with the adapter and used the same way by evaluation and predict.",
    )
    save_merged: bool = Field(
        default=False, description="Also write the base with the LoRA merged in (models/nl2sql_model/merged)."
    )
    gate: bool = Field(
        default=True,
        description="The do-no-harm gate: a seeded validation set is held out of training (20% of the distinct "
        "questions of the labeled rows, data_sample, labeled and corrected, at least 4 and at most 40; below 8 such "
        "questions, half of them, so none of a single one), together with every row sharing a held-out question or "
        "SQL and every value swap made from a held-out pair or sharing its SQL template. Each epoch is scored on those pairs and the "
        "best-answering one is kept (loss breaks ties, patience applies); the fine-tuned adapter is "
        "adopted only when its execution accuracy on those pairs is at least the base's (the same prompt and "
        "example bank); otherwise, or with nothing to validate on, nl2sql_model hands over the base with the "
        "bank. Off: nothing is held out and the adapter is adopted unchecked.",
    )
    gate_max_new_tokens: int = Field(
        default=SQL_MAX_NEW_TOKENS, ge=16, description="Tokens per greedy answer on the gate's validation pairs."
    )

    def sft_settings(self) -> SftSettings:
        """These fields as SftSettings (LoRA alpha twice the rank)."""
        return self.settings(SftSettings(), lora_alpha=2 * self.lora_r)


@dg.asset(
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"pytorch", "peft", "parquet"},
    description="One row: the NL2SQL model, a LoRA adapter of the base chat model fine-tuned on filtered_dataset "
    "(schema context and question in, SQL out; loss on the SQL only), saved under models/nl2sql_model, and which "
    "model is handed over (`adopted`): the adapter only when its execution accuracy on labeled pairs held out of "
    "training (val_ex_fine_tuned, on n_val_ex pairs) is at least the base's (val_ex_base), else the base with the "
    "adapter's example bank (see the config's gate).",
)
def nl2sql_model(
    context: dg.AssetExecutionContext,
    config: Nl2SqlTrainingConfig,
    filtered_dataset: pl.DataFrame,
    schema_catalog: pl.DataFrame,
    domain: DomainResource,
    sandbox: SqlSandbox,
    nl2sql_base: Nl2SqlBase,
    embedder: Embedder,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Hold out the validation pairs, fine-tune on the rest (or reuse), gate the adapter, describe it in one row."""
    home = io_manager.layout
    folder = home.models / "nl2sql_model"
    adapter_dir = folder / "fine_tuned"
    bank_embedder = embedder if config.example_in_prompt else None
    with user_errors(EmptyTrainingSet, AdapterBaseMismatch):
        check_not_empty(filtered_dataset, _emptied_by(context))
        loaded = domain.load()
        dialect = loaded.config.sql_dialect
        schema_context = domain_schema_context(schema_catalog, max_chars=config.context_chars)
        split = hold_out(filtered_dataset, config.seed, enabled=config.gate)
        check_not_empty(split.train, None, "filtered_dataset without the gate's validation pairs")
        context.log.info(
            f"nl2sql_model: fine-tuning on {split.train.height} pairs; {split.validation.height} labeled pairs held "
            f"out to validate on ({split.kept_out} rows kept out of training with them)"
        )
        with sandbox.session(loaded.database_path, loaded.catalog) as session:
            judge = _epoch_judge(split.validation, session, config.gate_max_new_tokens if config.gate else None)
            metrics, reused = train_or_reuse(
                nl2sql_base,
                split.train,
                schema_context,
                dialect,
                config.sft_settings(),
                adapter_dir,
                context.log.info,
                embedder=bank_embedder,
                merged_dir=folder / "merged" if config.save_merged else None,
                judge=judge,
            )
            if config.gate:
                verdict, gate_reused = gate_adapter(
                    nl2sql_base,
                    adapter_dir,
                    split.validation,
                    schema_context,
                    dialect,
                    session,
                    context.log.info,
                    embedder=bank_embedder,
                    max_new_tokens=config.gate_max_new_tokens,
                    tuned_ex=Measured(metrics.get("val_ex")) if judge is not None else None,
                )
            else:
                verdict, gate_reused = Verdict(FINE_TUNED, None, None, 0, "the gate is off: adopted unchecked"), False
                record_verdict(adapter_dir, verdict.as_dict())
    if verdict.adopted == BASE:
        context.log.warning(
            f"nl2sql_model: the fine-tuned adapter is refused and the base is adopted: {verdict.reason}"
        )
    else:
        context.log.info(f"nl2sql_model: the fine-tuned adapter is adopted: {verdict.reason}")
    merged = str(folder / "merged") if config.save_merged else None
    output = _model_output(
        "nl2sql_model", metrics, reused, split.train, merged, config.context_chars, config.example_in_prompt
    )
    gated = {key: value for key, value in verdict.as_dict().items() if key != "reason"}
    row = output.value.with_columns(
        pl.lit(verdict.adopted, pl.String).alias("adopted"),
        pl.lit(verdict.val_ex_base, pl.Float64).alias("val_ex_base"),
        pl.lit(verdict.val_ex_fine_tuned, pl.Float64).alias("val_ex_fine_tuned"),
        pl.lit(verdict.n_val_ex, pl.Int64).alias("n_val_ex"),
    )
    # _model_output's row and metadata, described again with the gate's columns (table_output adds its own keys)
    own = {"dagster/row_count", "dagster/column_schema", "sample", DATA_VERSION_KEY}
    described = {key: value for key, value in output.metadata.items() if key not in own}
    return table_output(
        row,
        {
            **described,
            **{key: value for key, value in gated.items() if value is not None},
            "gate": verdict.reason,
            "gate_reused": gate_reused,
            "held_out": split.validation.height,
            "kept_out_of_training": split.kept_out,
        },
    )


@dg.asset(
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"pytorch", "peft", "parquet"},
    description="One row, with nl2sql_model's columns: the labeled-only ablation, a LoRA adapter fine-tuned with "
    "nl2sql_model's settings (read from its adapter's manifest, with its schema context and example bank use) on "
    "the labeled rows of filtered_dataset alone (data_sample, labeled, corrected: no synthetic pairs or value "
    "swaps), saved under models/nl2sql_model/labeled_only. nl2sql_evaluation compares it with nl2sql_model to "
    "show what the synthetic data adds.",
)
def nl2sql_model_labeled_only(
    context: dg.AssetExecutionContext,
    filtered_dataset: pl.DataFrame,
    nl2sql_model: pl.DataFrame,
    schema_catalog: pl.DataFrame,
    domain: DomainResource,
    nl2sql_base: Nl2SqlBase,
    embedder: Embedder,
    sandbox: SqlSandbox,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Fine-tune on the labeled rows with nl2sql_model's settings (or reuse the same adapter) and describe it.

    Like for like with nl2sql_model: the pairs its gate held out (same seed) stay out of this training too, and
    its epochs are judged on them the same way.
    """
    trained = nl2sql_model.row(0, named=True)
    settings = SftSettings(**load_manifest(Path(trained["adapter_path"])).settings)
    gated = bool(trained.get("n_val_ex"))
    split = hold_out(filtered_dataset, settings.seed, enabled=gated)
    ablation = labeled_only(split.train)
    with user_errors(EmptyTrainingSet, AdapterBaseMismatch):
        check_not_empty(ablation, None, "the labeled part of filtered_dataset")
        loaded = domain.load()
        schema_context = domain_schema_context(schema_catalog, max_chars=trained["context_chars"])
        context.log.info(f"nl2sql_model_labeled_only: fine-tuning on {ablation.height} labeled pairs")
        with sandbox.session(loaded.database_path, loaded.catalog) as session:
            metrics, reused = train_or_reuse(
                nl2sql_base,
                ablation,
                schema_context,
                loaded.config.sql_dialect,
                settings,
                io_manager.layout.models / "nl2sql_model" / "labeled_only",
                context.log.info,
                embedder=embedder if trained["example_in_prompt"] else None,
                judge=_epoch_judge(split.validation, session, SQL_MAX_NEW_TOKENS if gated else None),
            )
    return _model_output(
        "nl2sql_model_labeled_only",
        metrics,
        reused,
        ablation,
        None,
        trained["context_chars"],
        trained["example_in_prompt"],
    )


def _model_output(
    name: str,
    metrics: dict,
    reused: bool,
    dataset: pl.DataFrame,
    merged_path: str | None,
    context_chars: int,
    example_in_prompt: bool,
) -> dg.Output[pl.DataFrame]:
    """An NL2SQL model as one row (adapter, version, data and training figures) with its loss plot."""
    sources = dict(dataset.group_by("source").len().iter_rows())
    row = {
        "adapter_path": metrics["adapter_path"],
        "merged_path": merged_path,
        "model_version": metrics["model_version"],
        "base": metrics["base"],
        "n_train": int(metrics["n_train"]),
        "n_val": int(metrics["n_val"]),
        "n_synthetic": int(sources.get("synthetic", 0)),
        "n_labeled": dataset.height - int(sources.get("synthetic", 0)),
        "train_loss": float(metrics["train_loss"]),
        "val_loss": float(metrics["val_loss"]),
        "metrics_split": metrics["metrics_split"],
        "best_epoch": int(metrics["best_epoch"]),
        "epochs_run": int(metrics["epochs_run"]),
        "context_chars": context_chars,
        "example_in_prompt": example_in_prompt,
        "train_seconds": round(float(metrics["seconds"]), 1),
    }
    history = metrics["history"]
    epochs = [entry["epoch"] for entry in history]
    return table_output(
        pl.DataFrame([row], schema_overrides={"merged_path": pl.String}),
        {
            **{key: value for key, value in row.items() if value is not None},
            "reused": reused,
            "loss_by_epoch": lines(
                {
                    "train loss": (epochs, [entry["train_loss"] for entry in history]),
                    f"{metrics['metrics_split']} loss": (epochs, [entry["val_loss"] for entry in history]),
                },
                f"{name} loss per SQL token",
                "epoch",
                "loss",
            ),
        },
    )


def _emptied_by(context: dg.AssetExecutionContext) -> str | None:
    """The rule that emptied the latest filtered_dataset, from its materialization metadata."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("filtered_dataset"))
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(EMPTIED_BY)
    return str(value.value) if value is not None else None


def _epoch_judge(
    validation: pl.DataFrame, session: SandboxSession, max_new_tokens: int | None
) -> ValidationJudge | None:
    """The judge of each training epoch: the gate's validation pairs (none without a gate or without pairs)."""
    if max_new_tokens is None or validation.is_empty():
        return None
    return ValidationJudge(validation, session, max_new_tokens)
