"""The schema_catalog assets: columns, concepts and labeled samples of the domain."""

import dagster as dg
from asasql_assets.failures import user_errors
from asasql_assets.outputs import markdown_sample, table_output
from asasql_resources.domain.resource import DomainResource

GROUP = "stage1_synthesis"
CODE_VERSION = "1"
KINDS = {"polars", "parquet", "duckdb"}


def _out(description: str) -> dg.AssetOut:
    """An output of the catalog multi-asset."""
    return dg.AssetOut(
        description=description, code_version=CODE_VERSION, kinds=KINDS, group_name=GROUP, is_required=False
    )


@dg.multi_asset(
    name="schema_catalog",
    can_subset=True,
    outs={
        "schema_catalog": _out(
            "One row per column of the domain workbook's schema sheet, with its table's meta description "
            "joined on and possible_value parsed into a list."
        ),
        "schema_catalog__concepts": _out("One row per term of the workbook's concept sheet."),
        "schema_catalog__samples": _out("One row per labeled (question, SQL) sample of data_sample.json."),
    },
)
def schema_catalog(context: dg.AssetExecutionContext, domain: DomainResource):
    """Validate the domain folder and publish whichever of its catalog, concepts and samples are selected."""
    with user_errors():
        loaded = domain.load()
    for issue in loaded.warnings:
        context.log.warning(str(issue))
    catalog, samples = loaded.catalog, loaded.samples
    common = {"domain": str(loaded.path), "sql_dialect": loaded.config.sql_dialect, "warnings": len(loaded.warnings)}
    outputs = {
        "schema_catalog": lambda: table_output(
            catalog,
            {
                **common,
                "tables": catalog["table_name"].n_unique(),
                "columns_per_table": dg.MetadataValue.md(
                    markdown_sample(catalog.group_by("table_name").len().sort("table_name"), rows=catalog.height)
                ),
            },
            output_name="schema_catalog",
        ),
        "schema_catalog__concepts": lambda: table_output(
            loaded.concepts, common, output_name="schema_catalog__concepts"
        ),
        "schema_catalog__samples": lambda: table_output(
            samples,
            {**common, "positive": int(samples["label"].sum()), "negative": int((~samples["label"]).sum())},
            output_name="schema_catalog__samples",
        ),
    }
    for name in context.op_execution_context.selected_output_names:
        yield outputs[name]()
