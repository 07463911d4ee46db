"""Polars frames as Dagster outputs: data version, row count, column schema and a markdown sample."""

import json
from collections.abc import Mapping

import dagster as dg
import polars as pl

from asasql_resources.warehouse import content_hash
from asasql_resources.warehouse.io_manager import DATA_VERSION_KEY, EXTRA_UPSTREAM_KEY

SAMPLE_ROWS = 5
CELL_WIDTH = 80


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The frame's columns and types as a Dagster table schema."""
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()])


def markdown_sample(frame: pl.DataFrame, rows: int = SAMPLE_ROWS) -> str:
    """The first rows of a frame as a markdown table, long cells shortened."""
    if frame.is_empty():
        return "_no rows_"

    def cell(value: object) -> str:
        text = str(value).replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.head(rows).iter_rows()]
    return "\n".join(lines)


def table_output(
    frame: pl.DataFrame,
    metadata: Mapping[str, object] | None = None,
    *,
    output_name: str = "result",
    upstream_versions: Mapping[str, str] | None = None,
) -> dg.Output[pl.DataFrame]:
    """An Output whose data version is the frame's content hash, with row count, schema and sample."""
    version = content_hash(frame)
    full: dict[str, object] = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(frame),
        "sample": dg.MetadataValue.md(markdown_sample(frame)),
        DATA_VERSION_KEY: version,
        **(metadata or {}),
    }
    if upstream_versions:
        full[EXTRA_UPSTREAM_KEY] = json.dumps(dict(upstream_versions), sort_keys=True)
    return dg.Output(frame, output_name=output_name, metadata=full, data_version=dg.DataVersion(version))
