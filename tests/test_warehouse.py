"""The warehouse: atomic Parquet, the ledger, views, the IO manager, and a reader beside a writer."""

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import BinaryIO

import dagster as dg
import duckdb
import polars as pl
import pytest

from asasql_assets.outputs import table_output
from asasql_resources.warehouse import (
    Home,
    WarehouseIOManager,
    connect_readonly,
    content_hash,
    read_frame,
    rebuild_views,
    write_frame,
)

ROUNDS = dg.StaticPartitionsDefinition(["round_0", "round_1", "round_2"])


@dg.asset(code_version="7")
def numbers() -> dg.Output[pl.DataFrame]:
    """Ten numbers."""
    return table_output(pl.DataFrame({"n": list(range(10)), "tag": ["a"] * 10}))


@dg.asset(code_version="1")
def doubled(numbers: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """The numbers doubled."""
    return table_output(numbers.with_columns(pl.col("n") * 2))


@dg.asset(partitions_def=ROUNDS)
def per_round(context: dg.AssetExecutionContext) -> pl.DataFrame:
    """Rows that depend on the round."""
    r = int(context.partition_key.split("_")[1])
    return pl.DataFrame({"score": [r + 0.5] * (r + 1)})


@dg.asset
def all_rounds(per_round: pl.DataFrame) -> pl.DataFrame:
    """Every round's rows in one frame."""
    return per_round


def _query(home: Home, sql: str) -> list[tuple]:
    con = connect_readonly(home)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_content_hash_is_stable_and_sensitive() -> None:
    frame = pl.DataFrame({"x": [1, 2, 3], "l": [["a"], [], ["b", "c"]]})
    chunked = pl.concat([frame[:1], frame[1:]], rechunk=False)
    assert content_hash(frame) == content_hash(chunked)
    assert content_hash(frame) != content_hash(frame.with_columns(pl.col("x") + 1))
    assert content_hash(frame) != content_hash(frame.rename({"x": "y"}))


def test_content_hash_is_equal_for_equal_frames_with_nulls_after_a_parquet_round_trip(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": [1, None, 3], "s": ["a", None, "c"], "l": [["a"], None, ["b", "c"]]})
    frame.write_parquet(tmp_path / "f.parquet")
    assert content_hash(pl.read_parquet(tmp_path / "f.parquet")) == content_hash(frame)
    assert content_hash(pl.concat([frame[:1], frame[1:]])) == content_hash(frame)
    assert content_hash(frame.with_columns(pl.col("x").fill_null(0))) != content_hash(frame)


def test_write_frame_is_atomic_and_keeps_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a" / "_.parquet"
    write_frame(pl.DataFrame({"x": [1]}), path, "v1")
    frame, version = read_frame(path)
    assert frame.to_dicts() == [{"x": 1}] and version == "v1"

    def disk_full(table: object, handle: BinaryIO, **_: object) -> None:
        handle.write(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("asasql_resources.warehouse.store.pq.write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_frame(pl.DataFrame({"x": [2]}), path, "v2")
    frame, version = read_frame(path)
    assert frame.to_dicts() == [{"x": 1}] and version == "v1"
    assert [p.name for p in path.parent.iterdir()] == ["_.parquet"]


def test_views_cover_plain_and_partitioned_assets(tmp_path: Path) -> None:
    home = Home(tmp_path)
    write_frame(pl.DataFrame({"x": [1, 2]}), home.asset_file("plain", None), "p")
    for r in range(3):
        write_frame(pl.DataFrame({"y": [r]}), home.asset_file("rounds", f"round_{r}"), f"r{r}")
    segments = {"_materializations", "_llm_cache", "_evaluations", "_evaluation_items"}
    assert set(rebuild_views(home)) == {"plain", "rounds", *segments}
    for name in segments:
        assert _query(home, f"select count(*) from {name}") == [(0,)], "an empty table before any segment"
    assert _query(home, "select count(*) from plain") == [(2,)]
    assert _query(home, "select round, partition, y from rounds order by round") == [
        (0, "round_0", 0),
        (1, "round_1", 1),
        (2, "round_2", 2),
    ]
    assert _query(home, "select count(*) from _materializations") == [(0,)]
    assert _query(home, "select count(*) from _llm_cache") == [(0,)]


def test_io_manager_writes_views_ledger_and_lineage(tmp_path: Path) -> None:
    io_manager = WarehouseIOManager(home=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([numbers, doubled], resources={"io_manager": io_manager}, instance=instance)
    assert result.success
    home = Home(tmp_path)
    assert _query(home, "select sum(n) from doubled") == [(90,)]
    ledger = dict(
        (a, (rows, version, upstream, code))
        for a, rows, version, upstream, code in _query(
            home, "select asset, rows, data_version, upstream_versions, code_version from _materializations"
        )
    )
    assert ledger["numbers"][0] == 10 and ledger["numbers"][3] == "7"
    assert json.loads(ledger["doubled"][2]) == {"numbers": ledger["numbers"][1]}
    event = instance.get_latest_materialization_event(dg.AssetKey("doubled"))
    materialization = event.asset_materialization
    assert materialization.metadata["dagster/row_count"].value == 10
    assert materialization.tags["dagster/data_version"] == ledger["doubled"][1]


def test_io_manager_partitions_and_all_partition_input(tmp_path: Path) -> None:
    resources = {"io_manager": WarehouseIOManager(home=str(tmp_path))}
    instance = dg.DagsterInstance.ephemeral()
    for key in ROUNDS.get_partition_keys():
        assert dg.materialize([per_round], partition_key=key, resources=resources, instance=instance).success
    assert dg.materialize([per_round.to_source_asset(), all_rounds], resources=resources, instance=instance).success
    home = Home(tmp_path)
    assert _query(home, "select round, count(*) from per_round group by round order by round") == [
        (0, 1),
        (1, 2),
        (2, 3),
    ]
    assert _query(home, "select partition, count(*) from all_rounds group by 1 order by 1") == [
        ("round_0", 1),
        ("round_1", 2),
        ("round_2", 3),
    ]
    upstream = json.loads(
        _query(home, "select upstream_versions from _materializations where asset='all_rounds'")[0][0]
    )
    assert set(upstream) == {"per_round[round_0]", "per_round[round_1]", "per_round[round_2]"}


def test_missing_upstream_names_the_asset(tmp_path: Path) -> None:
    result = dg.materialize(
        [numbers.to_source_asset(), doubled],
        resources={"io_manager": WarehouseIOManager(home=str(tmp_path))},
        raise_on_error=False,
    )
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "numbers has not been materialized" in str(failure.event_specific_data.error)


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    first = con.execute("select count(*) from _materializations").fetchone()[0]
    print("ready", flush=True)
    seen = set()
    deadline = time.time() + float(sys.argv[2])
    while time.time() < deadline:
        seen.add(con.execute("select count(*) from _materializations").fetchone()[0])
        con.execute("select sum(n) from numbers").fetchone()
    print(first, sorted(seen), flush=True)
    """
)


def test_reader_holding_connection_does_not_block_writer(tmp_path: Path) -> None:
    home = Home(tmp_path)
    resources = {"io_manager": WarehouseIOManager(home=str(tmp_path))}
    assert dg.materialize([numbers], resources=resources).success
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(home.warehouse), "6"], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    writer = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], capture_output=True, text=True, timeout=120)
    out, _ = reader.communicate(timeout=60)
    assert writer.returncode == 0, writer.stderr[-2000:]
    assert reader.returncode == 0
    first, seen = out.split(" ", 1)
    assert set(json.loads(seen)) <= set(range(int(first), 12)), "the open reader sees only whole records"
    assert _query(home, "select count(*) from _materializations") == [(1 + 5 * 2,)]
    con = duckdb.connect(str(home.warehouse), read_only=True)
    assert con.execute("select sum(n) from doubled").fetchone() == (90,)
    con.close()


WRITER = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from tests.test_warehouse import numbers, doubled
    from asasql_resources.warehouse import WarehouseIOManager
    resources = {"io_manager": WarehouseIOManager(home=sys.argv[1])}
    for _ in range(5):
        assert dg.materialize([numbers, doubled], resources=resources).success
    """
)
