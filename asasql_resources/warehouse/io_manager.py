"""WarehouseIOManager: assets exchange polars frames, stored as Parquet and exposed as DuckDB views."""

import json
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr

from asasql_resources.warehouse.home import Home, check_name, resolve_home
from asasql_resources.warehouse.ledger import MaterializationRecord, append_record
from asasql_resources.warehouse.secret import ensure_key
from asasql_resources.warehouse.store import DamagedFile, content_hash, read_frame, write_frame
from asasql_resources.warehouse.views import rebuild_views

DATA_VERSION_KEY = "asasql/data_version"
EXTRA_UPSTREAM_KEY = "asasql/upstream_versions"
RESERVED_PARTITION_COLUMNS = ("round", "partition")
# Input metadata (dg.AssetIn(metadata=...)) that changes how an input is loaded:
# - PARTITIONS_KEY: MATERIALIZED_PARTITIONS loads the mapped partitions that have been materialized, as a dict
#   {partition: frame} in partition order, skipping those that have not (e.g. the rounds that have no labels yet);
# - OPTIONAL_KEY: True loads a non-partitioned asset that has not been materialized as None.
PARTITIONS_KEY = "asasql/partitions"
MATERIALIZED_PARTITIONS = "materialized"
OPTIONAL_KEY = "asasql/optional"
# Run tags that carry the partition key(s) a run writes.
PARTITION_TAGS = ("dagster/partition", "dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def asset_name(key: dg.AssetKey) -> str:
    """The view and folder name of an asset key."""
    return "__".join(key.path)


def version_label(asset: str, partition: str | None) -> str:
    """How an upstream is named in upstream_versions: asset or asset[partition]."""
    return f"{asset}[{partition}]" if partition else asset


def _metadata_value(metadata: Mapping[str, object], key: str) -> object:
    """The raw value of one output-metadata entry, or None."""
    value = metadata.get(key)
    return value.value if isinstance(value, dg.MetadataValue) else value


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores each asset (partition) at $ASASQL_HOME/parquet/<asset>/<partition or _>.parquet and logs it."""

    home: str | None = Field(
        default=None, description="The ASASQL_HOME folder; unset means $ASASQL_HOME, else .asasql."
    )
    _loaded: dict[tuple[str, str], dict[str, str]] = PrivateAttr(default_factory=dict)

    @property
    def layout(self) -> Home:
        """The paths of the configured home."""
        return Home(resolve_home(self.home))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Before any step computes: refuse a run whose partition key cannot name a file; make the home's secret."""
        run = context.run
        for tag in PARTITION_TAGS if run is not None else ():
            if tag in run.tags:
                check_name("partition key", run.tags[tag])
        ensure_key(self.layout)

    def file(self, asset: str, partition: str | None) -> Path:
        """Where an asset (partition) is stored; UnsafeName when a name or a link would lead outside the home."""
        path = self.layout.asset_file(asset, partition)
        self.layout.inside(path)
        return path

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        """Write the frame atomically, append a ledger row, and swap in the rebuilt views."""
        asset = asset_name(context.asset_key)
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"asset {asset} returned {type(obj).__name__}; the warehouse stores polars DataFrames")
        partition = context.partition_key if context.has_partition_key else None
        if partition is not None:
            clashes = [c for c in RESERVED_PARTITION_COLUMNS if c in obj.columns]
            if clashes:
                raise ValueError(f"asset {asset}: columns {clashes} are added by the partitioned view; rename them")
        data_version = _metadata_value(context.output_metadata, DATA_VERSION_KEY) or content_hash(obj)
        path = self.file(asset, partition)
        write_frame(obj, path, str(data_version))
        upstream = self._loaded.pop((context.run_id, context.step_key), {})
        extra = _metadata_value(context.output_metadata, EXTRA_UPSTREAM_KEY)
        upstream.update(json.loads(extra) if isinstance(extra, str) else dict(extra or {}))
        append_record(
            self.layout,
            MaterializationRecord(
                asset=asset,
                partition=partition,
                run_id=context.run_id,
                rows=obj.height,
                data_version=str(data_version),
                code_version=context.asset_spec.code_version,
                path=str(path),
                upstream_versions=upstream,
            ),
        )
        rebuild_views(self.layout)
        context.add_output_metadata(
            {"asasql/path": dg.MetadataValue.path(str(path)), "asasql/view": dg.MetadataValue.text(asset)}
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | dict[str, pl.DataFrame] | None:
        """Read an upstream asset; several partitions come back as one frame with `partition` and `round`.

        The input's metadata can ask instead for the materialized partitions as a dict, or for None when an
        optional asset has not been materialized (see PARTITIONS_KEY and OPTIONAL_KEY).
        """
        asset = asset_name(context.asset_key)
        partitions = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        step = (context.step_context.run_id, context.step_context.step.key)
        loaded = self._loaded.setdefault(step, {})
        metadata = context.definition_metadata or {}
        if metadata.get(PARTITIONS_KEY) == MATERIALIZED_PARTITIONS:
            present = [p for p in partitions if p is not None and self.file(asset, p).exists()]
            return {partition: self._read(asset, partition, loaded) for partition in present}
        if metadata.get(OPTIONAL_KEY) and partitions == [None] and not self.file(asset, None).exists():
            return None
        frames = []
        for partition in partitions:
            frame = self._read(asset, partition, loaded)
            if len(partitions) > 1:
                frame = frame.with_columns(pl.lit(partition).alias("partition"))
            frames.append(frame)
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def _read(self, asset: str, partition: str | None, loaded: dict[str, str]) -> pl.DataFrame:
        """One stored asset (partition), its data version noted among the step's upstream versions."""
        path = self.file(asset, partition)
        if not path.exists():
            raise FileNotFoundError(
                f"{version_label(asset, partition)} has not been materialized in {self.layout.root} "
                f"(no {path}); materialize it first"
            )
        try:
            frame, version = read_frame(path)
        except DamagedFile as error:
            label = version_label(asset, partition)
            raise DamagedFile(path, f"{error.reason} ({label}: re-materialize {asset} to rebuild it)") from error
        loaded[version_label(asset, partition)] = version or ""
        return frame
