"""Faults survived: a writer killed mid-write, a reader held across a run, two runs at once, damage, a full disk."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.warehouse import (
    DamagedFile,
    Home,
    MaterializationRecord,
    WarehouseIOManager,
    append_record,
    read_frame,
    rebuild_views,
    resolve_home,
    write_frame,
)
from tests.domain_factory import write_domain
from tests.test_cli import ASASQL
from tests.test_warehouse import doubled, numbers

ROOT = Path(__file__).resolve().parents[1]
ROWS_VARIABLE = "ASASQL_TEST_ROWS"


@dg.asset
def big() -> pl.DataFrame:
    """$ASASQL_TEST_ROWS (default 1000) random numbers, so that a test can make a write slow or large."""
    rows = int(os.environ.get(ROWS_VARIABLE, "1000"))
    return pl.DataFrame({"x": np.random.default_rng(rows).random(rows), "n": np.arange(rows)})


# Materializes `big` in its own process; argv: home, then an optional file size limit in bytes (a full disk).
MATERIALIZE_BIG = textwrap.dedent(
    """
    import resource, signal, sys
    import dagster as dg
    from asasql_resources.warehouse import WarehouseIOManager
    from tests.test_faults import big
    if len(sys.argv) > 2:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    dg.materialize([big], resources={"io_manager": WarehouseIOManager(home=sys.argv[1])})
    """
)


def _materialize(home: Path, *assets: object) -> dg.ExecuteInProcessResult:
    """Materialize assets into a home, in this process, without raising on failure."""
    resources = {"io_manager": WarehouseIOManager(home=str(home))}
    return dg.materialize(list(assets), resources=resources, raise_on_error=False)


def _query(home: Home, sql: str) -> list[tuple]:
    """Rows of one query on a fresh read-only connection."""
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _size(path: Path) -> int:
    """A file's size, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _leftovers(root: Path) -> list[Path]:
    """Temporary files of the atomic writers under a folder."""
    return sorted(root.rglob(".*.tmp"))


def _ledger_rows(home: Home, asset: str) -> int:
    """How many materializations of an asset the ledger holds."""
    return _query(home, f"select count(*) from _materializations where asset = '{asset}'")[0][0]


def test_a_writer_killed_mid_write_leaves_the_old_file_and_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path)
    assert _materialize(tmp_path, big).success
    path = home.asset_file("big", None)
    before, version = read_frame(path)
    log = tmp_path / "writer.log"
    with log.open("w") as output:
        writer = subprocess.Popen(
            [sys.executable, "-c", MATERIALIZE_BIG, str(tmp_path)],
            env={**os.environ, ROWS_VARIABLE: "5000000"},
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    temporary = path.parent / f".{path.name}.{writer.pid}.tmp"
    deadline = time.monotonic() + 120
    while _size(temporary) == 0:
        assert writer.poll() is None, f"the writer ended before it began writing: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, "the writer never began writing"
        time.sleep(0.002)
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=30) == -signal.SIGKILL
    assert temporary.exists(), "the writer was killed while writing, before its rename"

    after, after_version = read_frame(path)
    assert after_version == version and after.equals(before), "the previous file is intact"
    assert _query(home, "select count(*), sum(n) from big") == [(1000, sum(range(1000)))]
    assert _ledger_rows(home, "big") == 1, "nothing was recorded for the killed write"

    monkeypatch.setenv(ROWS_VARIABLE, "2000")
    assert _materialize(tmp_path, big).success, "a re-run completes"
    assert _leftovers(tmp_path) == [], "the killed writer's temporary file is cleaned up"
    assert _query(home, "select count(*) from big") == [(2000,)]
    assert read_frame(path)[1] == _query(home, "select data_version from _materializations order by created_at")[-1][0]


# Holds one read-only connection to the warehouse until argv[2] exists; then prints what it saw, as JSON.
HOLD_READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("ready", flush=True)
    catalogs, counts, errors = [], [], []
    while not Path(sys.argv[2]).exists():
        try:
            views = sorted(r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall())
            catalog = [views, con.execute("select sum(x) from preexisting").fetchone()[0]]
            count, incomplete = con.execute(
                "select count(*), count(*) filter (where asset is null or data_version is null) from _materializations"
            ).fetchone()
            if catalog not in catalogs:
                catalogs.append(catalog)
            counts.append(count)
            if incomplete:
                errors.append(f"{incomplete} incomplete ledger rows")
        except Exception as error:
            errors.append(repr(error))
        time.sleep(0.1)
    print(json.dumps({"catalogs": catalogs, "counts": counts, "errors": errors[:5]}), flush=True)
    """
)


@dataclass(frozen=True)
class Contest:
    """Two `asasql run` started at once on one home, beside a reader that held a connection throughout."""

    home: Home
    old_catalog: list[object]
    reader: dict[str, list]
    reader_code: int
    runs: list[tuple[int, int, str, str, float]]  # pid, exit code, stdout, stderr, seconds until it ended


@pytest.fixture(scope="module")
def contest(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Contest:
    """Run the contest once for the tests that check it."""
    root = tmp_path_factory.mktemp("contest")
    home = Home(resolve_home(root / "home"))
    domain = write_domain(root / "shop")
    write_frame(pl.DataFrame({"x": [1, 2, 3]}), home.asset_file("preexisting", None), "old")
    append_record(home, MaterializationRecord("preexisting", None, "before", 3, "old", None, "-"))
    rebuild_views(home)
    old_catalog = [
        sorted(name for (name,) in _query(home, "select view_name from duckdb_views() where not internal")),
        6,
    ]
    stop = root / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_READER, str(home.warehouse), str(stop)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    env = {**os.environ, "ASASQL_CHAT_MODEL": str(tiny_model), "ASASQL_REWARD_BASE": str(tiny_model)}
    env |= {"ASASQL_NL2SQL_BASE": str(tiny_model)}
    env.pop("DAGSTER_HOME", None)
    command = [ASASQL, "run", "--domain", str(domain), "--home", str(home.root), "--rounds", "1"]
    logs = [(root / f"run{i}.out", root / f"run{i}.err") for i in range(2)]
    start = time.monotonic()
    processes = []
    for out, err in logs:
        with out.open("w") as stdout, err.open("w") as stderr:
            processes.append(subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr))
    ended: dict[int, float] = {}
    while len(ended) < 2:
        assert time.monotonic() - start < 600, "the runs did not end"
        for process in processes:
            if process.pid not in ended and process.poll() is not None:
                ended[process.pid] = time.monotonic() - start
        time.sleep(0.2)
    stop.touch()
    reader_out, _ = reader.communicate(timeout=60)
    runs = [
        (p.pid, p.returncode, out.read_text(), err.read_text(), ended[p.pid])
        for p, (out, err) in zip(processes, logs, strict=False)
    ]
    return Contest(home, old_catalog, json.loads(reader_out), reader.returncode, runs)


def test_a_reader_held_across_a_run_fails_nothing_and_keeps_its_catalog(contest: Contest) -> None:
    assert contest.reader_code == 0
    assert contest.reader["errors"] == [], "every read during the run succeeded"
    assert contest.reader["catalogs"] == [contest.old_catalog], "the open connection kept the old catalog"
    counts = contest.reader["counts"]
    assert counts == sorted(counts) and counts[0] < counts[-1], "it read while the run wrote; the ledger only grew"
    winner = [run for run in contest.runs if run[1] == 0]
    assert len(winner) == 1, [run[1:4] for run in contest.runs]
    views = {name for (name,) in _query(contest.home, "select view_name from duckdb_views() where not internal")}
    assert {"preexisting", "schema_catalog", "reward_model", "nl2sql_evaluation", "_materializations"} <= views
    assert _query(contest.home, "select sum(x) from preexisting") == [(6,)]


def test_two_runs_at_once_one_is_refused_and_the_warehouse_ends_consistent(contest: Contest) -> None:
    (winner,) = [run for run in contest.runs if run[1] == 0]
    (loser,) = [run for run in contest.runs if run[1] != 0]
    assert loser[1] == 1
    assert f"error: another asasql run (pid {winner[0]}) is using {contest.home.root}; wait for it" in loser[3]
    assert "materialization(s)" not in loser[2], "the refused run did nothing"
    assert loser[4] < winner[4], "it was refused at once, not queued behind the other"
    assert "stopped:" in winner[2] and "Stage 3 ran" in winner[2]

    home = contest.home
    latest = _query(
        home,
        "select asset, partition, data_version, path from _materializations "
        "qualify row_number() over (partition by asset, partition order by created_at desc) = 1",
    )
    assert len(latest) > 10
    for asset, partition, data_version, path in latest:
        if asset != "preexisting":
            assert Path(path) == home.asset_file(asset, partition)
            assert read_frame(Path(path))[1] == data_version, f"{asset}[{partition}] matches its ledger row"
    for (view,) in _query(home, "select view_name from duckdb_views() where not internal"):
        _query(home, f'select count(*) from "{view}"')
    assert _leftovers(home.root) == []


def _footer_start(data: bytes) -> int:
    """Where a Parquet file's footer begins."""
    return len(data) - 8 - int.from_bytes(data[-8:-4], "little")


def _flip(data: bytes, at: int) -> bytes:
    """The bytes with one bit flipped at an offset."""
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]


def test_a_damaged_asset_file_is_named_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = Home(tmp_path)
    assert _materialize(tmp_path, numbers, doubled).success
    path = home.asset_file("numbers", None)
    data = path.read_bytes()
    frame, version = read_frame(path)
    assert version is not None
    for at in range(len(data)):
        path.write_bytes(_flip(data, at))
        try:
            flipped = read_frame(path)
        except DamagedFile as error:
            assert str(error).startswith(f"{path} is damaged: ")
            continue
        assert flipped[0].equals(frame) and flipped[1] == version, f"a bit flipped at byte {at} went unnoticed"

    damages = {"truncated": data[: len(data) // 2], "a changed data version": data.replace(version.encode(), b"0" * 24)}
    for kind, damaged in damages.items():
        path.write_bytes(damaged)
        result = _materialize(tmp_path, numbers.to_source_asset(), doubled)
        assert not result.success, kind
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        message = str(failure.event_specific_data.error)
        assert f"{path} is damaged: " in message and "(numbers: re-materialize numbers to rebuild it)" in message

    path.write_bytes(damages["truncated"])
    with caplog.at_level(logging.WARNING):
        assert _materialize(tmp_path, big).success, "a damaged file does not fail another asset's write"
    assert f"view numbers is left out of {home.warehouse}" in caplog.text and str(path) in caplog.text
    assert "numbers" not in {name for (name,) in _query(home, "select view_name from duckdb_views()")}

    assert _materialize(tmp_path, numbers, doubled).success, "re-materializing rebuilds it"
    assert read_frame(path)[1] == version
    assert _query(home, "select sum(n) from numbers") == [(45,)]
    assert _query(home, "select sum(n) from doubled") == [(90,)]


@pytest.mark.parametrize("damage", ["footer", "page"])
def test_a_damaged_ledger_segment_is_set_aside_and_the_ledger_still_reads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    home = Home(tmp_path)
    assert _materialize(tmp_path, numbers, doubled).success
    damaged = next(home.ledger.glob("*-numbers-_.parquet"))
    data = damaged.read_bytes()
    bad = data[:40] if damage == "footer" else _flip(data, _footer_start(data) - 1)  # under the last page's checksum
    damaged.write_bytes(bad)
    with caplog.at_level(logging.WARNING):
        assert _materialize(tmp_path, big).success, "a damaged ledger segment does not fail another asset's write"
    aside = damaged.with_suffix(".corrupt")
    assert f"segment {damaged} cannot be read" in caplog.text and str(aside) in caplog.text
    assert aside.read_bytes() == bad and not damaged.exists(), "kept for inspection, out of the view"
    assert _ledger_rows(home, "numbers") == 0 and _ledger_rows(home, "doubled") == 1 and _ledger_rows(home, "big") == 1


PROMPTS = [ChatPrompt(user="Count the orders."), ChatPrompt(user="List the customers.")]


def test_damaged_llm_cache_segments_and_rows_are_reported_and_made_again(
    tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from asasql_resources.models.chat import ChatModel  # imports torch: kept out of the writer subprocesses

    home = Home(tmp_path)

    def chat() -> ChatModel:
        return ChatModel(model=str(tiny_model), home=str(tmp_path), dtype="float32")

    first = chat().generate(PROMPTS, max_new_tokens=5)
    stats = chat().client().stats
    (segment,) = home.llm_cache.glob("*.parquet")
    frame = read_frame(segment)[0]
    bad_row = pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("outputs")).alias("outputs")
    write_frame(frame.with_columns(bad_row), segment)
    prompts = stats.prompts
    with caplog.at_level(logging.WARNING):
        assert chat().generate(PROMPTS, max_new_tokens=5) == first
    assert stats.prompts == prompts + 1, "only the damaged row's call is made again"
    assert f"LLM cache segment {segment}: 1 of its 2 row(s) are unusable" in caplog.text
    assert not segment.exists() and segment.with_suffix(".corrupt").exists()

    segments = sorted(home.llm_cache.glob("*.parquet"))
    assert len(segments) == 2, "the usable row kept in a new segment, the made-again call in another"
    segments[0].write_bytes(segments[0].read_bytes()[:-20])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert "_llm_cache" in rebuild_views(home), "a segment with a damaged footer is set aside, the view kept"
        assert f"segment {segments[0]} cannot be read" in caplog.text
        data = segments[1].read_bytes()  # read in full by that rebuild; now damaged under its last page's checksum
        segments[1].write_bytes(_flip(data, _footer_start(data) - 1))
        prompts = stats.prompts
        assert chat().generate(PROMPTS, max_new_tokens=5) == first
    assert stats.prompts == prompts + 2
    assert f"LLM cache segment {segments[1]}: it cannot be read" in caplog.text  # the cache's own full read finds it
    assert not any(segment.exists() for segment in segments)
    assert all(segment.with_suffix(".corrupt").exists() for segment in segments)

    prompts = stats.prompts
    assert chat().generate(PROMPTS, max_new_tokens=5) == first
    assert stats.prompts == prompts, "the calls made again were cached again"
    assert "_llm_cache" in rebuild_views(home)
    assert _query(home, "select count(*) from _llm_cache") == [(2,)]


def test_a_full_disk_is_named_and_leaves_the_previous_file(tmp_path: Path) -> None:
    home = Home(tmp_path)
    assert _materialize(tmp_path, big).success
    path = home.asset_file("big", None)
    before, version = read_frame(path)
    limit = 2_000_000
    writer = subprocess.run(
        [sys.executable, "-c", MATERIALIZE_BIG, str(tmp_path), str(limit)],
        env={**os.environ, ROWS_VARIABLE: "1000000"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert writer.returncode != 0
    assert (
        f"cannot write {path}: File too large (the disk is full or the file is over its size limit); "
        "the previous file is unchanged" in writer.stderr
    ), writer.stderr[-3000:]
    after, after_version = read_frame(path)
    assert after_version == version and after.equals(before)
    assert _leftovers(tmp_path) == [], "nothing half-written is left"
    assert _ledger_rows(home, "big") == 1
    assert _query(home, "select count(*) from big") == [(1000,)]
