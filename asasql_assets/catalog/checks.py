"""Asset checks on the schema catalog."""

import dagster as dg
import polars as pl


@dg.asset_check(asset="schema_catalog", description="Every table in the schema sheet has a meta description.")
def every_table_described(schema_catalog: pl.DataFrame) -> dg.AssetCheckResult:
    """Warn about tables whose meta description is empty."""
    missing = sorted(schema_catalog.filter(pl.col("table_description") == "")["table_name"].unique().to_list())
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"tables_without_description": ", ".join(missing) or "none"},
    )


@dg.asset_check(asset="schema_catalog", description="Every column offers possible values to prompt with.")
def every_column_has_values(schema_catalog: pl.DataFrame) -> dg.AssetCheckResult:
    """Warn about columns with an empty possible_values list."""
    empty = schema_catalog.filter(pl.col("possible_values").list.len() == 0)
    names = [f"{t}.{c}" for t, c in empty.select("table_name", "column_name").iter_rows()]
    return dg.AssetCheckResult(
        passed=not names,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"columns_without_values": len(names), "examples": ", ".join(names[:10]) or "none"},
    )
