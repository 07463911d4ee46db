"""The root of the asasql code location: every asset, check, job and resource."""

import dagster as dg

from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.catalog.checks import every_column_has_values, every_table_described
from asasql_assets.resources import build_resources
from asasql_assets.synthesis.assets import extracted_columns, forward_queries, nl2sql_candidates
from asasql_assets.synthesis.checks import (
    candidates_belong_to_questions,
    execution_rate,
    forward_queries_not_empty,
    no_test_set_leak,
)

main_job = dg.define_asset_job(
    "asasql_main", selection=dg.AssetSelection.all(), description="Every stage of ASASQL on the configured domain."
)

defs = dg.Definitions(
    assets=[schema_catalog, forward_queries, nl2sql_candidates, extracted_columns],
    asset_checks=[
        every_table_described,
        every_column_has_values,
        forward_queries_not_empty,
        no_test_set_leak,
        candidates_belong_to_questions,
        execution_rate,
    ],
    jobs=[main_job],
    resources=build_resources(),
)
