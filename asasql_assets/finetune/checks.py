"""Asset checks on Stage 3: the training set holds no held-out test question."""

import dagster as dg
import polars as pl

from asasql_assets.leaks import TEST_SET_IN, held_out_leak


@dg.asset_check(
    asset="filtered_dataset",
    additional_ins=TEST_SET_IN,
    description="No training pair's question is a held-out test-set question (normalised).",
)
def no_test_question_in_training_set(
    filtered_dataset: pl.DataFrame, schema_catalog__test_set: pl.DataFrame
) -> dg.AssetCheckResult:
    """Fail, naming the questions, when a test-set question is in the training set."""
    return held_out_leak(filtered_dataset["question"].to_list(), schema_catalog__test_set)
