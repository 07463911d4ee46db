"""The schema_catalog assets: columns, concepts, labeled samples, test set and gold bank of the domain."""

import dagster as dg
import polars as pl

from asasql_assets.failures import user_errors
from asasql_assets.outputs import markdown_sample, table_output
from asasql_assets.versions import code_version
from asasql_resources.domain.resource import DomainResource
from asasql_resources.domain.samples import GOLD_BANK_FILE, PAIRS_SCHEMA, TEST_SET_FILE

GROUP = "stage1_synthesis"
CODE_VERSION = code_version(__name__)
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
        "schema_catalog__test_set": _out(
            f"One row per held-out (question, SQL, category) pair of {TEST_SET_FILE}, which nl2sql_evaluation "
            "measures on and no training set may contain; no rows when the domain has no such file."
        ),
        "schema_catalog__gold_bank": _out(
            f"One row per (question, SQL, category) pair of {GOLD_BANK_FILE}, which the reference annotator "
            "labels against; no rows when the domain has no such file."
        ),
    },
)
def schema_catalog(context: dg.AssetExecutionContext, domain: DomainResource):
    """Validate the domain folder and publish whichever of its catalog, concepts, samples, test set and gold bank
    are selected."""
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
        "schema_catalog__test_set": lambda: _pairs(loaded.test_set, TEST_SET_FILE, common, "schema_catalog__test_set"),
        "schema_catalog__gold_bank": lambda: _pairs(
            loaded.gold_bank, GOLD_BANK_FILE, common, "schema_catalog__gold_bank"
        ),
    }
    for name in context.op_execution_context.selected_output_names:
        yield outputs[name]()


def _pairs(pairs: pl.DataFrame | None, file: str, common: dict[str, object], name: str) -> dg.Output[pl.DataFrame]:
    """A test set or gold bank as an output: no rows (same columns) when the domain has no such file."""
    frame = pairs if pairs is not None else pl.DataFrame(schema=PAIRS_SCHEMA)
    categories = frame.group_by("category").len().sort("category", nulls_last=True)
    return table_output(
        frame,
        {
            **common,
            "file": file if pairs is not None else f"none ({file} is absent)",
            "pairs": frame.height,
            "by_category": dg.MetadataValue.md(markdown_sample(categories, rows=categories.height)),
        },
        output_name=name,
    )
