"""The `_materializations` ledger: one small Parquet file per materialization, owned by the run that wrote it."""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import polars as pl

from asasql_resources.warehouse.home import Home
from asasql_resources.warehouse.segments import LEDGER_SCHEMA, append_segment


@dataclass(frozen=True)
class MaterializationRecord:
    """One row of `_materializations`; upstream_versions maps "asset[partition]" to a data version."""

    asset: str
    partition: str | None
    run_id: str
    rows: int
    data_version: str
    code_version: str | None
    path: str
    upstream_versions: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def append_record(home: Home, record: MaterializationRecord) -> None:
    """Append one record as its own atomically written file."""
    row = asdict(record)
    row["upstream_versions"] = json.dumps(record.upstream_versions, sort_keys=True)
    frame = pl.DataFrame([row], schema=LEDGER_SCHEMA)
    append_segment(home.ledger, frame, f"{record.asset}-{record.partition or '_'}")
