"""Stage 3 assets: filtered_dataset, nl2sql_model and nl2sql_evaluation."""

from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from asasql_assets.active.steps import score_pool
from asasql_assets.failures import user_errors
from asasql_assets.finetune.filtering import filter_dataset
from asasql_assets.finetune.labels import all_labels, prospective_threshold
from asasql_assets.outputs import markdown_sample, table_output
from asasql_assets.plots import bars
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.reward import RewardModel
from asasql_resources.warehouse import WarehouseIOManager

GROUP = "stage3_finetune"
KINDS = {"polars", "parquet", "duckdb"}
DEFAULT_THRESHOLD = 0.5


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


@dg.asset(
    group_name=GROUP,
    code_version="1",
    kinds=KINDS,
    ins={"reward_model": dg.AssetIn(partition_mapping=dg.LastPartitionMapping())},
    description="One row per (question, SQL) training pair: candidates that parse, use known columns, execute and "
    "score over the threshold under the last round's reward model, plus every labeled positive and correction.",
)
def filtered_dataset(
    context: dg.AssetExecutionContext,
    config: FilteredDatasetConfig,
    extracted_columns: pl.DataFrame,
    reward_model: pl.DataFrame,
    domain: DomainResource,
    reward_base: RewardModel,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Score the pool with the last reward model, apply the rules in order, add the labeled positives."""
    home = io_manager.layout
    model = reward_model.row(0, named=True)
    labels, label_versions = all_labels(home)
    with user_errors():
        test_set = domain.load().test_set
        scores, _ = score_pool(
            reward_base,
            Path(model["adapter_path"]),
            model["model_version"],
            extracted_columns,
            None,
            progress=lambda done, total: context.log.info(f"filtered_dataset: scored {done}/{total} pairs"),
        )
    chosen = prospective_threshold(home, labels) if config.threshold is None else config.threshold
    threshold = DEFAULT_THRESHOLD if chosen is None else chosen
    dataset, waterfall = filter_dataset(
        extracted_columns,
        scores,
        labels,
        test_set["question"].to_list() if test_set is not None else [],
        threshold=threshold,
        drop_empty_results=config.drop_empty_results,
        best_per_question=config.best_per_question,
    )
    rules = waterfall.filter(pl.col("dropped") > 0)
    by_source = dataset.group_by("source").len().sort("source")
    return table_output(
        dataset,
        {
            "pairs": dataset.height,
            "threshold": round(threshold, 4),
            "threshold_from": "setting" if config.threshold is not None else ("labels" if chosen is not None else "default"),
            "reward_model": model["model_version"],
            "waterfall": dg.MetadataValue.md(markdown_sample(waterfall, rows=waterfall.height)),
            "waterfall_plot": bars(rules["rule"].to_list(), {"rows dropped": rules["dropped"].to_list()}, "filter waterfall", "rows"),
            "by_source": dg.MetadataValue.md(markdown_sample(by_source, rows=by_source.height)),
        },
        upstream_versions=label_versions,
    )
