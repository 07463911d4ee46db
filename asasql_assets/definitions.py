"""The root of the asasql code location: every asset, check, job and resource."""

import dagster as dg

from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.catalog.checks import every_column_has_values, every_table_described
from asasql_assets.resources import build_resources

main_job = dg.define_asset_job(
    "asasql_main", selection=dg.AssetSelection.all(), description="Every stage of ASASQL on the configured domain."
)

defs = dg.Definitions(
    assets=[schema_catalog],
    asset_checks=[every_table_described, every_column_has_values],
    jobs=[main_job],
    resources=build_resources(),
)
