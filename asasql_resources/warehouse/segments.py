"""Tables that runs append to as segment files, never rewriting one: their schemas and folders."""

import polars as pl

from asasql_resources.warehouse.home import Home

LEDGER_SCHEMA = {
    "asset": pl.String,
    "partition": pl.String,
    "run_id": pl.String,
    "rows": pl.Int64,
    "data_version": pl.String,
    "upstream_versions": pl.String,
    "code_version": pl.String,
    "path": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}

LLM_CACHE_SCHEMA = {
    "key": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "prompt": pl.String,
    "sampling": pl.String,
    "outputs": pl.List(pl.String),
    "created_at": pl.Datetime("us", "UTC"),
}

DUCKDB_TYPES = {pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.List(pl.String): "VARCHAR[]"}


def segment_tables(home: Home) -> dict[str, tuple[str, dict[str, pl.DataType]]]:
    """Each segment table's view name, folder and schema."""
    return {
        "_materializations": (str(home.ledger), LEDGER_SCHEMA),
        "_llm_cache": (str(home.llm_cache), LLM_CACHE_SCHEMA),
    }


def empty_select_sql(schema: dict[str, pl.DataType]) -> str:
    """A SELECT with these columns and no rows, for a table with no segment yet."""
    columns = [f"CAST(NULL AS {DUCKDB_TYPES.get(dtype, 'TIMESTAMPTZ')}) AS {name}" for name, dtype in schema.items()]
    return f"SELECT {', '.join(columns)} WHERE false"
