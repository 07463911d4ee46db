"""Hardening of the warehouse: `asasql sql` is read-only, files are signed with the home's secret, names stay home."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asasql_assets.active.sensors import annotation_workbooks
from asasql_assets.cli.inspect import sql
from asasql_assets.cli.rounds import export, import_labels
from asasql_assets.partitions import checked_round, round_key, round_number
from asasql_resources.annotation import Annotator
from asasql_resources.warehouse import (
    BadSecret,
    DamagedFile,
    Home,
    UnsafeName,
    WarehouseIOManager,
    ensure_key,
    open_warehouse,
    read_frame,
    rebuild_views,
    write_frame,
)
from asasql_resources.warehouse.segments import readable_segments
from asasql_resources.warehouse.store import DIGEST_KEY, MAC_KEY, VERSION_KEY, _digest, write_table

ASASQL = str(Path(sys.executable).with_name("asasql"))
ROUNDS = dg.DynamicPartitionsDefinition(name="hardening_rounds")


@dg.asset
def numbers() -> pl.DataFrame:
    """Ten numbers."""
    return pl.DataFrame({"n": list(range(10))})


@dg.asset(partitions_def=ROUNDS)
def per_round() -> pl.DataFrame:
    """One row per round."""
    return pl.DataFrame({"score": [0.5]})


def _materialize(home: Path, *assets: dg.AssetsDefinition, **kwargs: object) -> dg.ExecuteInProcessResult:
    resources = {"io_manager": WarehouseIOManager(home=str(home))}
    return dg.materialize(list(assets), resources=resources, raise_on_error=False, **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A home with one materialized asset, as the pipeline leaves it."""
    root = tmp_path_factory.mktemp("built") / "home"
    assert _materialize(root, numbers).success
    return Home(root)


def _sql(home: Path, query: str, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run `asasql sql` in process: its exit code, stdout and stderr."""
    code = sql(query, home, *(args or ("csv", 40)))
    captured = capsys.readouterr()
    return code, captured.out.replace("\r\n", "\n"), captured.err


# --- asasql sql: the statement policy, then the locked-down connection ---------------------------------------


def test_sql_answers_a_select_over_the_views(built: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert _sql(built.root, "select sum(n) as s from numbers", capsys) == (0, "s\n45\n", "")
    code, out, _ = _sql(built.root, "with t as (select n from numbers where n > 7) select count(*) from t", capsys)
    assert code == 0 and out.splitlines()[1] == "2"
    assert _sql(built.root, "select count(*) as c from _materializations", capsys)[1] == "c\n1\n"


@pytest.mark.parametrize(
    "query",
    [
        "COPY (SELECT 1) TO '{outside}/copy.csv'",
        "COPY numbers TO '{home}/parquet/numbers/_.parquet'",
        "EXPORT DATABASE '{outside}/export'",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('{home}/.secret')",
        "SELECT * FROM '{home}/.secret'",
        "SELECT * FROM read_parquet('{home}/parquet/numbers/_.parquet')",
        "ATTACH '{outside}/other.duckdb' AS other",
        "CREATE OR REPLACE VIEW numbers AS SELECT 666 AS n",
        "CREATE TEMP TABLE t AS SELECT 1",
        "DROP VIEW numbers",
        "SET enable_external_access = true",
        "PRAGMA database_list",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CHECKPOINT",
        "SELECT 1; COPY (SELECT 1) TO '{outside}/second.csv'",
        "SELECT * FROM glob('/*')",
        "SELECT current_setting('allowed_directories')",
        "SELECT getenv('HOME')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM query('COPY (SELECT 1) TO ''{outside}/q.csv''')",
        "",
        "   ",
        "SELECT " + "(" * 5000 + "1" + ")" * 5000,
        "SELECT 1 AS x" + " " * 30_000,
        "SELECT * FROM numbers, LATERAL (SELECT * FROM read_csv('/etc/hosts'))",
        'SELECT * FROM "parquet/numbers/_.parquet"',
        "CALL pragma_version()",
        "SUMMARIZE numbers",
        "SELECT 1 INTO t",
    ],
)
def test_sql_refuses_what_is_not_one_read_only_select(
    built: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    before = sorted(p.relative_to(built.root) for p in built.root.rglob("*") if ".lock" not in p.name)
    code, out, err = _sql(built.root, query.format(home=built.root, outside=tmp_path), capsys)
    assert code == 2 and out == "", (query, out, err)
    assert len(err.splitlines()) == 1 and err.startswith("error: refused: "), err
    assert list(tmp_path.iterdir()) == [], "nothing is written outside the home"
    after = sorted(p.relative_to(built.root) for p in built.root.rglob("*") if ".lock" not in p.name)
    assert after == before, "nothing in the home changes"
    assert _sql(built.root, "select sum(n) as s from numbers", capsys)[1] == "s\n45\n", "the views are intact"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT * FROM read_text('/etc/passwd')", "disabled by configuration"),
        ("SELECT * FROM read_blob('{home}/.secret')", "disabled by configuration"),
        ("SELECT * FROM read_blob('{home}/parquet/../.secret')", "disabled by configuration"),
        ("SELECT * FROM read_blob('{home}/dagster/dagster.yaml')", "disabled by configuration"),
        ("COPY (SELECT 1) TO '{outside}/copy.csv'", "disabled by configuration"),
        ("EXPORT DATABASE '{outside}/export'", "disabled by configuration"),
        ("ATTACH '{outside}/other.duckdb' AS other", "disabled by configuration"),
        ("CREATE OR REPLACE VIEW numbers AS SELECT 666 AS n", "read-only"),
        ("SET enable_external_access = true", "locked"),
        ("SET allowed_directories = ['/']", "locked"),
        ("RESET lock_configuration", "locked"),
        ("INSTALL httpfs", "disabled by configuration"),
    ],
)
def test_the_connection_itself_refuses_file_access_and_writes(
    built: Home, tmp_path: Path, statement: str, message: str
) -> None:
    """Below the statement policy: the DuckDB connection that `asasql sql` opens refuses on its own."""
    con = open_warehouse(built)
    try:
        with pytest.raises(duckdb.Error, match=message):
            con.execute(statement.format(home=built.root, outside=tmp_path))
        assert con.execute("select sum(n) from numbers").fetchall() == [(45,)]
    finally:
        con.close()
    assert list(tmp_path.iterdir()) == []


def test_a_file_written_into_the_parquet_folder_past_the_policy_fails_the_keyed_check(tmp_path: Path) -> None:
    """The connection may still write inside the views' folders (DuckDB allows them whole); the secret catches it."""
    home = Home(tmp_path / "home")
    assert _materialize(home.root, numbers).success
    con = open_warehouse(home)
    try:
        con.execute(f"COPY (SELECT 666 AS n) TO '{home.asset_file('numbers', None)}'")
    finally:
        con.close()
    with pytest.raises(DamagedFile, match="no keyed checksum"):
        read_frame(home.asset_file("numbers", None))


def test_sql_never_creates_a_home_or_a_warehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    code, out, err = _sql(missing, "select 1", capsys)
    assert (
        code == 2
        and out == ""
        and err == f"error: no home at {missing} (set --home or ASASQL_HOME; `asasql run` makes one)\n"
    )
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _sql(empty, "select 1", capsys)
    assert code == 2 and "has no warehouse.duckdb yet" in err and len(err.splitlines()) == 1
    assert list(empty.iterdir()) == []


def test_sql_names_a_warehouse_it_cannot_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = Home(tmp_path)
    home.warehouse.write_bytes(b"not a duckdb file" * 100)
    code, _, err = _sql(home.root, "select 1", capsys)
    assert code == 1 and err.startswith("error: cannot open the warehouse: ") and err.count("\n") == 1
    assert home.warehouse.read_bytes() == b"not a duckdb file" * 100


@pytest.mark.parametrize("max_rows", [-5, 0, 10**30])
def test_sql_refuses_a_row_count_out_of_range(built: Home, capsys: pytest.CaptureFixture[str], max_rows: int) -> None:
    code, _, err = _sql(built.root, "select 1", capsys, "table", max_rows)
    assert code == 2 and err.startswith("error: --max-rows must be a whole number from 1 to ") and err.count("\n") == 1


def test_sql_names_a_statement_duckdb_cannot_parse(built: Home, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _sql(built.root, "SELECT", capsys)
    assert code == 2 and err.startswith("error: Parser Error: ") and err.count("\n") == 1


def test_sql_refuses_a_query_that_is_not_utf8(built: Home, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _sql(built.root, "select '\udcff' as x", capsys)
    assert code == 2 and "not valid UTF-8" in err


def test_sql_on_the_command_line_gives_one_line_never_a_traceback(built: Home, tmp_path: Path) -> None:
    env = {**os.environ, "ASASQL_HOME": str(built.root)}
    env.pop("DAGSTER_HOME", None)
    cases = {
        ("sql", "--max-rows", "-5", "select 1"): 2,
        ("sql", "COPY (SELECT 1) TO '/tmp/asasql-hardening-copy.csv'"): 2,
        ("sql", "--home", str(tmp_path / "none"), "select 1"): 2,
        ("sql", "select * from no_such_view"): 1,
        ("sql", "select n from numbers order by n desc limit 1", "--format", "json"): 0,
    }
    for args, expected in cases.items():
        run = subprocess.run([ASASQL, *args], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == expected, (args, run.stderr)
        assert "Traceback" not in run.stderr, run.stderr
        if expected == 2:
            assert len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stdout == '{"n": 9}\n'
    assert not Path("/tmp/asasql-hardening-copy.csv").exists() and not (tmp_path / "none").exists()


# --- integrity: the keyed checksum -----------------------------------------------------------------------------


def _forge(path: Path, frame: pl.DataFrame, version: str, extra: dict[bytes, bytes] | None = None) -> None:
    """Write a Parquet file as an attacker who knows the format but not the secret would: the unkeyed digest right."""
    table = frame.to_arrow()
    metadata = {DIGEST_KEY: _digest(table.schema, table.num_rows, version), VERSION_KEY: version.encode()}
    pq.write_table(table.replace_schema_metadata({**metadata, **(extra or {})}), path, write_page_checksum=True)


def test_a_forged_file_fails_the_keyed_check_with_a_clear_message(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    assert _materialize(home.root, numbers).success
    path = home.asset_file("numbers", None)
    genuine, version = read_frame(path)
    stolen_mac = pq.read_metadata(path).metadata[MAC_KEY]

    _forge(path, pl.DataFrame({"n": [666]}), version)
    with pytest.raises(DamagedFile, match="has no keyed checksum, so it was not written by this home's pipeline"):
        read_frame(path)
    _forge(path, pl.DataFrame({"n": [666]}), version, {MAC_KEY: stolen_mac})
    with pytest.raises(DamagedFile, match="keyed checksum does not match"):
        read_frame(path)
    _forge(path, genuine, version, {MAC_KEY: stolen_mac})  # same values, other bytes: still not the pipeline's
    with pytest.raises(DamagedFile, match="keyed checksum does not match"):
        read_frame(path)
    _forge(path, genuine, version, {MAC_KEY: b"short"})
    with pytest.raises(DamagedFile, match="not where the pipeline writes it"):
        read_frame(path)

    other = Home(tmp_path / "other")  # a file signed by another home's pipeline is not this home's
    assert _materialize(other.root, numbers).success
    path.write_bytes(other.asset_file("numbers", None).read_bytes())
    with pytest.raises(DamagedFile, match="keyed checksum does not match"):
        read_frame(path)

    failed = _materialize(home.root, numbers.to_source_asset(), _doubled)
    assert not failed.success
    (failure,) = [event for event in failed.all_events if event.is_step_failure]
    message = str(failure.event_specific_data.error)
    assert f"{path} is damaged: " in message and "re-materialize numbers to rebuild it" in message
    assert _materialize(home.root, numbers, _doubled).success, "re-materializing signs it again"


@dg.asset(name="doubled")
def _doubled(numbers: pl.DataFrame) -> pl.DataFrame:
    """The numbers doubled."""
    return numbers.with_columns(pl.col("n") * 2)


def test_every_changed_byte_of_a_signed_file_is_caught(tmp_path: Path) -> None:
    home = Home(tmp_path)
    ensure_key(home)
    path = home.asset_file("small", None)
    write_frame(pl.DataFrame({"s": ["a", None, "c"], "x": [1.5, 2.5, None]}), path, "v1")
    data = path.read_bytes()
    for at in range(len(data)):
        path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])
        with pytest.raises(DamagedFile):
            read_frame(path)
    path.write_bytes(data)
    assert read_frame(path)[1] == "v1"


def test_the_secret_lies_outside_the_data_folders_readable_by_its_owner_only(built: Home) -> None:
    assert built.secret.parent == built.root
    assert stat.S_IMODE(built.secret.stat().st_mode) == 0o600
    assert not any(built.secret.is_relative_to(built.root / folder) for folder in ("parquet", "ledger", "cache"))
    assert len(built.secret.read_text().strip()) == 64


def test_a_home_made_before_the_secret_is_signed_once_then_checked(tmp_path: Path) -> None:
    """Trust on first use: files that pass the unkeyed checks when the secret is made are signed with it."""
    home = Home(tmp_path)
    write_frame(pl.DataFrame({"n": [1, 2]}), home.asset_file("old", None), "v-old")
    write_frame(pl.DataFrame({"n": [3]}), home.asset_file("rounds", "round_0"), "v-r0")
    (home.parquet / "bad").mkdir()
    (home.parquet / "bad" / "_.parquet").write_bytes(b"PAR1 not a parquet file PAR1")
    assert not home.secret.exists()
    assert read_frame(home.asset_file("old", None))[1] == "v-old", "without a secret the unkeyed checks apply"
    rebuild_views(home)  # what the pipeline does first on such a home
    assert home.secret.exists()
    assert pq.read_metadata(home.asset_file("old", None)).metadata.get(MAC_KEY) is not None
    assert read_frame(home.asset_file("old", None))[1] == "v-old"
    assert read_frame(home.asset_file("rounds", "round_0"))[0]["n"].to_list() == [3]
    ledger = home.ledger
    ledger.mkdir(parents=True)
    table = pl.DataFrame({"n": [1]}).to_arrow()
    write_table(table, ledger / "0-unsigned.parquet", None)  # a segment written without the key, after it exists
    assert readable_segments(ledger) == []
    assert (ledger / "0-unsigned.corrupt").exists(), "set aside out of its view"


def test_a_malformed_secret_is_named(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.root.mkdir(exist_ok=True)
    home.secret.write_text("not hex\n")
    with pytest.raises(BadSecret, match=r"\.secret: not a secret written by asasql"):
        write_frame(pl.DataFrame({"n": [1]}), home.asset_file("x", None))


def test_a_file_outside_any_home_keeps_the_unkeyed_checks(tmp_path: Path) -> None:
    path = tmp_path / "loose" / "f.parquet"
    write_frame(pl.DataFrame({"n": [1]}), path, "v")
    assert MAC_KEY not in (pq.read_metadata(path).metadata or {})
    assert read_frame(path)[1] == "v"


# --- names: rounds, partitions, paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../../../x/pwned",
        "..",
        ".",
        "a/b",
        "a\\b",
        "",
        " ",
        "_",
        "x" * 129,
        ".hidden",
        "-rf",
        "a\x00b",
        "é",
        "abc\n",
        "round_1\n",
    ],
)
def test_names_that_would_leave_their_folder_are_refused(tmp_path: Path, name: str) -> None:
    home = Home(tmp_path)
    with pytest.raises(UnsafeName):
        home.asset_file("numbers", name)
    if name != "_":  # a folder named _ is harmless; a partition named _ would be the unpartitioned file
        with pytest.raises(UnsafeName):
            home.asset_file(name, None)
        with pytest.raises(UnsafeName):
            home.annotation_file(name)


def test_an_unsafe_name_is_shown_on_one_short_line(tmp_path: Path) -> None:
    with pytest.raises(UnsafeName) as caught:
        Home(tmp_path).asset_file("numbers", "x" * 5000)
    assert "(5000 characters)" in str(caught.value) and len(str(caught.value)) < 300 and "\n" not in str(caught.value)


@pytest.mark.parametrize("key", ["round_" + "9" * 294, "round_1000000", "round_1\n", "round_1/..", "../round_1"])
def test_round_keys_are_bounded(key: str) -> None:
    with pytest.raises(ValueError, match="is not a round") as caught:
        checked_round(key)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200
    if key.strip() == key:
        with pytest.raises(ValueError):
            round_number(key)


def test_round_keys_in_range_round_trip() -> None:
    assert checked_round("round_999999") == "round_999999" and round_key(999999) == "round_999999"
    with pytest.raises(ValueError):
        round_key(10**6)
    with pytest.raises(ValueError, match="without spaces"):
        checked_round(" round_1")


def test_a_partition_key_that_leaves_the_home_is_refused_before_anything_runs(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    evil = "../../../../x/pwned"
    instance.add_dynamic_partitions(ROUNDS.name, [evil])
    home = tmp_path / "a" / "b" / "c" / "home"
    result = _materialize(home, per_round, partition_key=evil, instance=instance)
    assert not result.success
    assert not (tmp_path / "x").exists() and not list((tmp_path / "a").rglob("*.parquet"))
    assert any("cannot name a file in the home" in str(event.event_specific_data) for event in result.all_events)


def test_the_io_manager_refuses_a_folder_that_resolves_outside_the_home(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    outside = tmp_path / "outside"
    outside.mkdir()
    home.parquet.mkdir(parents=True)
    (home.parquet / "numbers").symlink_to(outside, target_is_directory=True)
    result = _materialize(home.root, numbers)
    assert not result.success
    assert list(outside.iterdir()) == []
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert "outside the home" in str(failure.event_specific_data.error)


@pytest.mark.parametrize("round_arg", ["../../../../x/evil", "round_" + "1" * 294, "round_1/../../x", "round_01"])
def test_annotate_refuses_a_round_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], round_arg: str
) -> None:
    home = tmp_path / "a" / "b" / "home"
    evil = tmp_path / "x"
    evil.mkdir()
    write_frame(pl.DataFrame({"candidate_id": ["c1"]}), evil / "evil.parquet")
    for command, call in (
        ("annotate export", lambda: export(round_arg, home, overwrite=False)),
        ("annotate import", lambda: import_labels(round_arg, home, None)),
    ):
        assert call() == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {command} ROUND: ") and "is not a round" in err and err.count("\n") == 1, err
    assert not home.exists()


def test_the_sensor_launches_no_run_for_a_workbook_that_is_not_a_round(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.annotations.mkdir(parents=True)
    for name in ("round_01.xlsx", "round_1 .xlsx", "round_" + "9" * 200 + ".xlsx", "round_x.xlsx"):
        (home.annotations / name).write_bytes(b"not a workbook")
    (home.annotations / "round_1.xlsx").mkdir()  # a folder with a round's name
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("al_round", ["round_0", "round_1"])
    resources = {"annotator": Annotator(kind="workbook"), "io_manager": WarehouseIOManager(home=str(home.root))}
    result = annotation_workbooks(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(result, dg.SkipReason) and result.skip_message == "no complete workbook"


def test_arrow_metadata_of_a_signed_file_is_kept(tmp_path: Path) -> None:
    """write_table keeps a table's own metadata (e.g. the digest and version) and signs the file."""
    home = Home(tmp_path)
    key = ensure_key(home)
    table = pa.table({"n": [1]}).replace_schema_metadata({b"mine": b"yes", MAC_KEY: b"stale"})
    write_table(table, home.asset_file("t", None), key)
    metadata = pq.read_metadata(home.asset_file("t", None)).metadata
    assert metadata[b"mine"] == b"yes" and metadata[MAC_KEY] != b"stale"
