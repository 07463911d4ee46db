"""Tests of the sandbox's instances, limits and resource, including the hostile SQL corpus."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from asasql_resources.sandbox import (
    ExecResult,
    SandboxSession,
    SqlSandbox,
    build_instance,
    infer_type,
    lock_down,
    worker,
)
from asasql_resources.sandbox.worker import open_instance, run_statement

CORPUS = Path(__file__).parent / "data" / "hostile_sql.jsonl"
TIMEOUT_S = 1.0
NEVER_ENDING = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


def _catalog() -> pl.DataFrame:
    rows = [
        ("orders", "id", [str(i) for i in range(1, 31)], None),
        ("orders", "customer_id", ["1", "2", "3"], None),
        ("orders", "amount", ["9.5", "20", "100.25"], None),
        ("orders", "day", ["2024-01-01", "2024-02-29", "2024-12-31"], None),
        ("orders", "paid_at", ["2024-01-01 10:00:00", "2024-02-29T23:59:59"], None),
        ("orders", "paid", ["true", "false"], None),
        ("orders", "note", [], None),
        ("orders", "price", ["1.5", "2"], "DECIMAL(10,2)"),
        ("orders", "code", ["7", "8"], "varchar(255)"),
        ("orders", "status", ["open", "closed"], "no such type"),
        ("orders", "ID", ["99"], None),  # a later duplicate of "id": dropped
        ("customers", "id", ["1", "2", "3"], "INTEGER"),
        ("customers", "name", ["Ann", "Bob", "O'Hara"], None),
        ("customers", "city", ["Paris", "Oslo"], None),
    ]
    return pl.DataFrame(
        {
            "table_name": [r[0] for r in rows],
            "column_name": [r[1] for r in rows],
            "possible_values": [r[2] for r in rows],
            "data_type": [r[3] for r in rows],
        },
        schema={
            "table_name": pl.Utf8,
            "column_name": pl.Utf8,
            "possible_values": pl.List(pl.Utf8),
            "data_type": pl.Utf8,
        },
    )


def _snapshot(root: Path) -> dict[str, tuple[int, int, str] | str]:
    """Every path under root with size, mtime and content hash (files) or 'dir'."""
    state: dict[str, tuple[int, int, str] | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir():
            state[key] = "dir"
        else:
            stat = path.stat()
            state[key] = (stat.st_size, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


@pytest.fixture(scope="module")
def sentinel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every corpus path points into, holding files an attacker would want."""
    root = tmp_path_factory.mktemp("sentinel")
    (root / "secret.csv").write_text("user,password\nroot,hunter2\n", encoding="utf-8")
    (root / "secret.json").write_text('{"token": "s3cr3t"}\n', encoding="utf-8")
    (root / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    with duckdb.connect(str(root / "existing.duckdb")) as con:
        con.execute("CREATE TABLE items AS SELECT range AS id FROM range(3)")
        con.execute(f"COPY items TO '{root / 'orders.parquet'}' (FORMAT parquet)")
    return root


@pytest.fixture(scope="module")
def session() -> Iterator[SandboxSession]:
    with SqlSandbox(timeout_s=TIMEOUT_S, memory_limit="256MB").session(None, _catalog()) as s:
        yield s


def _corpus() -> list[dict[str, str]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_is_large_and_covers_every_kind() -> None:
    entries = _corpus()
    kinds = {e["kind"] for e in entries}
    assert len(entries) >= 50
    assert {
        "copy_to",
        "attach",
        "detach",
        "install",
        "load",
        "read_file_local",
        "read_file_url",
        "glob_local",
        "glob_url",
        "string_table",
        "pragma",
        "set",
        "reset",
        "call",
        "export_database",
        "import_database",
        "ddl",
        "dml",
        "multi_statement",
        "comment_hidden",
        "runaway_recursive_cte",
        "runaway_cross_join",
        "runaway_huge_range",
        "string_blowup",
        "probe",
        "reenable_external_access",
        "runaway_alias_chain",
        "runaway_levenshtein",
        "runaway_memory_lambda",
        "runaway_memory_format",
        "runaway_memory_large_list",
        "runaway_result_bytes",
        "leak_settings",
        "leak_system_view",
        "leak_system_catalog",
        "lone_surrogate",
    } <= kinds
    assert all(set(e) == {"sql", "kind"} and e["sql"] is not None for e in entries)


@pytest.mark.parametrize("entry", _corpus(), ids=lambda e: e["kind"])
def test_hostile_statement_is_stopped_and_harmless(
    entry: dict[str, str], session: SandboxSession, sentinel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sentinel_dir)  # relative paths land in the sentinel directory too
    before = _snapshot(sentinel_dir)
    result = session.execute(entry["sql"].replace("{tmp}", str(sentinel_dir)))
    assert isinstance(result, ExecResult)
    assert not result.ok
    assert result.refused, result.error
    assert result.error
    assert result.rows == [] and result.row_count == 0
    if entry["kind"].startswith("runaway_"):
        assert any(f"{bound} limit exceeded" in result.error for bound in ("time", "memory", "result")), result.error
    assert _snapshot(sentinel_dir) == before
    assert session.execute("SELECT count(*) FROM orders").rows == [(24,)]


# Statements the locked engine refuses by itself, without the parse-level policy.
ENGINE_REFUSES = [
    "SELECT * FROM read_csv('{tmp}/secret.csv')",
    "SELECT * FROM '{tmp}/secret.csv'",
    "SELECT * FROM read_text('{tmp}/passwd')",
    "SELECT * FROM glob('{tmp}/*')",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "COPY orders TO '{tmp}/out.csv'",
    "EXPORT DATABASE '{tmp}/export'",
    "ATTACH '{tmp}/evil.duckdb' AS evil",
    "ATTACH '{tmp}/existing.duckdb' AS src (READ_ONLY)",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET memory_limit = '100GB'",
    "SET threads = 8",
    "SET temp_directory = '{tmp}/spill'",
]


@pytest.mark.parametrize("sql", ENGINE_REFUSES)
def test_locked_engine_refuses_without_the_policy(
    sql: str, sentinel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sentinel_dir)
    before = _snapshot(sentinel_dir)
    con = build_instance(None, _catalog(), memory_limit="256MB")
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql.replace("{tmp}", str(sentinel_dir))).fetchall()
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access',"
                " 'lock_configuration', 'threads', 'temp_directory', 'allowed_directories', 'allowed_paths',"
                " 'home_directory', 'secret_directory')"
            ).fetchall()
        )
    finally:
        con.close()
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "threads": "1",
        "temp_directory": "",
        "allowed_directories": "[]",
        "allowed_paths": "[]",
        "home_directory": "",
        "secret_directory": "",
    }
    assert _snapshot(sentinel_dir) == before


def test_lock_down_sets_the_memory_limit_and_rejects_a_bad_one() -> None:
    con = duckdb.connect(":memory:")
    try:
        with pytest.raises(ValueError, match="memory_limit"):
            lock_down(con, "lots'; SET x=1")
        lock_down(con, "64MB")
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == ("61.0 MiB",)
    finally:
        con.close()


def test_never_ending_query_returns_within_the_time_limit() -> None:
    with SqlSandbox(timeout_s=TIMEOUT_S).session(None, _catalog()) as s:
        started = time.monotonic()
        result = s.execute(NEVER_ENDING)
        assert time.monotonic() - started < TIMEOUT_S + 3
        assert not result.ok and result.refused
        assert result.error == f"time limit exceeded: stopped after {TIMEOUT_S:g} s"
        assert s.execute("SELECT 42 AS answer").rows == [(42,)]


def test_normal_query_returns_columns_and_rows(session: SandboxSession) -> None:
    result = session.execute(
        "SELECT o.customer_id, count(*) AS n FROM orders o"
        " WHERE o.customer_id IN (SELECT id FROM customers) GROUP BY 1 ORDER BY 1"
    )
    assert result.ok and result.error is None and not result.refused and not result.truncated
    assert result.columns == ["customer_id", "n"]
    assert sum(n for _, n in result.rows) == 24
    assert result.row_count == len(result.rows) == 3
    assert result.elapsed_ms > 0


def test_other_dialects_run_after_transpiling(session: SandboxSession) -> None:
    mysql = session.execute("SELECT `id` FROM `orders` ORDER BY `id` LIMIT 1, 2", dialect="mysql")
    sqlite = session.execute("SELECT id FROM orders ORDER BY id LIMIT 2 OFFSET 1", dialect="sqlite")
    assert mysql.ok and mysql.rows == sqlite.rows and mysql.row_count == 2


def test_row_cap_truncates() -> None:
    with SqlSandbox(max_rows=5).session(None, _catalog()) as s:
        many = s.execute("SELECT * FROM range(1000000000000)")
        exact = s.execute("SELECT * FROM range(5)")
    assert many.ok and many.truncated and many.row_count == 5 and many.rows == [(i,) for i in range(5)]
    assert exact.ok and not exact.truncated and exact.row_count == 5


def test_engine_error_is_a_result_not_an_exception(session: SandboxSession) -> None:
    result = session.execute("SELECT no_such_column FROM orders")
    assert not result.ok and not result.refused
    assert result.error is not None and "no_such_column" in result.error


def test_policy_refusal_is_a_result(session: SandboxSession) -> None:
    result = session.execute("select 1; drop table orders")
    assert result == ExecResult(
        ok=False,
        columns=[],
        rows=[],
        row_count=0,
        elapsed_ms=result.elapsed_ms,
        error="not a single SELECT statement: found 2 statements",
        refused=True,
        truncated=False,
    )


def test_closed_session_answers_with_an_error() -> None:
    with SqlSandbox().session(None, _catalog()) as s:
        assert s.execute("SELECT 1").ok
    result = s.execute("SELECT 1")
    assert not result.ok and not result.refused and result.error == "session is closed"
    s.close()  # closing twice is fine


def test_python_side_failure_is_a_result_not_an_exception(session: SandboxSession) -> None:
    # DuckDB holds this interval; Python's timedelta cannot, so converting the row fails in Python.
    result = session.execute("SELECT INTERVAL 100000000 YEAR AS far")
    assert not result.ok and not result.refused
    assert result.error is not None and result.error.startswith("OverflowError")
    assert session.execute("SELECT 1").rows == [(1,)]


def test_engine_parser_must_agree_with_the_policy(tmp_path: Path) -> None:
    # The worker's own check, on a real locked instance: sqlglot is not asked here.
    database = tmp_path / "one.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con = open_instance(str(database), "64MiB")
    try:
        two = run_statement(con, "SELECT 1; SELECT 2", max_rows=10, max_bytes=1000)
        write = run_statement(con, "INSERT INTO t VALUES (2)", max_rows=10, max_bytes=1000)
        one = run_statement(con, "SELECT a FROM t", max_rows=10, max_bytes=1000)
    finally:
        con.close()
    assert two == {
        "ok": False,
        "error": "DuckDB does not parse it as a single SELECT statement",
        "refused": True,
        "fatal": False,
    }
    assert write["error"] == two["error"]
    assert one == {"ok": True, "columns": ["a"], "rows": [(1,)], "truncated": False}


def test_session_rejects_bad_limits() -> None:
    con = duckdb.connect(":memory:")
    with pytest.raises(ValueError, match="timeout_s"):
        SandboxSession(con, timeout_s=0)
    with pytest.raises(ValueError, match="max_rows"):
        SandboxSession(con, max_rows=-1)
    with pytest.raises(ValueError, match="max_bytes"):
        SandboxSession(con, max_bytes=0)
    with pytest.raises(ValueError, match="memory_limit"):
        SandboxSession(con, memory_limit="lots")
    with pytest.raises(ValueError, match="memory_limit"):
        SandboxSession(con, memory_limit="1MB")  # too small to start a worker in
    con.close()


def test_calls_from_several_threads_are_serialized(session: SandboxSession) -> None:
    results: list[ExecResult] = []

    def run() -> None:
        results.append(session.execute("SELECT count(*) FROM orders a, orders b"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.rows for r in results] == [[(576,)]] * 4


def _source_database(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE items (id INTEGER, label VARCHAR)")
        con.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        con.execute("CREATE TABLE prices AS SELECT 1 AS item_id, 9.99::DECIMAL(10, 2) AS price")
        con.execute("CREATE VIEW cheap AS SELECT * FROM prices WHERE price < 5")
        con.execute("CREATE SCHEMA other")
        con.execute("CREATE TABLE other.hidden AS SELECT 1 AS x")


def test_build_instance_attaches_a_database_file_read_only(tmp_path: Path) -> None:
    source = tmp_path / "database.duckdb"
    _source_database(source)
    before = _snapshot(tmp_path)
    con = build_instance(source, _catalog())
    try:
        tables = con.execute(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() ORDER BY table_name"
        ).fetchall()
        items = con.execute("SELECT * FROM items ORDER BY id").fetchall()
        price = con.execute("SELECT typeof(price), price FROM prices").fetchone()
        cheap = con.execute("SELECT count(*) FROM cheap").fetchone()
        with pytest.raises(duckdb.Error):
            con.execute("INSERT INTO items VALUES (4, 'four')")
    finally:
        con.close()
    assert tables == [("sandbox", "other", "hidden"), ("sandbox", "main", "items"), ("sandbox", "main", "prices")]
    assert items == [(1, "one"), (2, "two"), (3, "three")]
    assert price is not None and price[0] == "DECIMAL(10,2)"
    assert cheap == (0,)
    assert _snapshot(tmp_path) == before


def test_build_instance_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        build_instance(tmp_path / "missing.duckdb", _catalog())


def _types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position",
            [table],
        ).fetchall()
    )


def test_build_instance_synthesizes_typed_tables_from_the_catalog() -> None:
    con = build_instance(None, _catalog())
    try:
        orders = _types(con, "orders")
        customers = _types(con, "customers")
        counts = con.execute("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM customers)")
        counts = counts.fetchone()
        ids = {row[0] for row in con.execute("SELECT DISTINCT id FROM orders").fetchall()}
        days = {row[0].isoformat() for row in con.execute("SELECT DISTINCT day FROM orders").fetchall()}
        names = {row[0] for row in con.execute("SELECT DISTINCT name FROM customers").fetchall()}
        notes = con.execute("SELECT count(note) FROM orders").fetchone()
        statuses = {row[0] for row in con.execute("SELECT DISTINCT status FROM orders").fetchall()}
    finally:
        con.close()
    assert orders == {
        "id": "BIGINT",
        "customer_id": "BIGINT",
        "amount": "DOUBLE",
        "day": "DATE",
        "paid_at": "TIMESTAMP",
        "paid": "BOOLEAN",
        "note": "VARCHAR",
        "price": "DECIMAL(10,2)",
        "code": "VARCHAR",
        "status": "VARCHAR",
    }
    assert customers == {"id": "INTEGER", "name": "VARCHAR", "city": "VARCHAR"}
    assert counts == (24, 24)
    assert len(ids) == 24 and ids <= set(range(1, 31))  # 30 possible values: 24 distinct draws
    assert days == {"2024-01-01", "2024-02-29", "2024-12-31"}  # every possible value appears
    assert names == {"Ann", "Bob", "O'Hara"}
    assert notes == (0,)  # no possible values: NULL
    assert statuses == {"open", "closed"}


def _dump(seed: int, rows: int = 24) -> list[tuple]:
    con = build_instance(None, _catalog(), seed=seed, rows_per_table=rows)
    try:
        return con.execute("FROM orders").fetchall() + con.execute("FROM customers").fetchall()
    finally:
        con.close()


def test_synthesized_rows_are_deterministic_per_seed() -> None:
    assert _dump(seed=0) == _dump(seed=0)
    assert _dump(seed=0) != _dump(seed=1)
    assert len(_dump(seed=0, rows=40)) == 80


@pytest.mark.parametrize(
    "values, expected",
    [
        ([], "VARCHAR"),
        (["1", "-2", "+3"], "BIGINT"),
        (["1", str(2**63)], "DOUBLE"),
        (["1", "2.5", "1e3", ".5"], "DOUBLE"),
        (["nan", "1"], "VARCHAR"),
        (["1_000"], "VARCHAR"),
        (["2024-01-31", "1999-12-01"], "DATE"),
        (["2024-02-30"], "VARCHAR"),
        (["2024-01-31 10:00", "2024-01-31T10:00:05.5"], "TIMESTAMP"),
        (["2024-01-31", "2024-01-31 10:00:00"], "VARCHAR"),
        (["true", "False", "TRUE"], "BOOLEAN"),
        (["true", "1"], "VARCHAR"),
        (["0", "1"], "BIGINT"),
        (["Paris", "1"], "VARCHAR"),
    ],
)
def test_infer_type(values: list[str], expected: str) -> None:
    assert infer_type(values) == expected


def test_resource_checks_and_runs_inside_an_asset() -> None:
    @dg.asset
    def sandboxed(sandbox: SqlSandbox) -> int:
        assert sandbox.check("DROP TABLE orders").reason == "not a SELECT statement: found DROP"
        with sandbox.session(None, _catalog()) as s:
            result = s.execute("SELECT count(*) FROM customers")
        assert result.ok
        return result.rows[0][0]

    outcome = dg.materialize([sandboxed], resources={"sandbox": SqlSandbox(timeout_s=1.5, synthetic_rows=21)})
    assert outcome.success
    assert outcome.output_for_node("sandboxed") == 21


# --- hard bounds: the worker process, its deadline, its address space and the result caps ---

MEMORY_LIMIT = "256MB"
SLOW = [
    # Binding copies each alias's expression into the next: planning time doubles per alias.
    "SELECT 1 AS a0, " + ", ".join(f"a{i} + a{i} AS a{i + 1}" for i in range(26)),
    "SELECT levenshtein(s, reverse(s)) FROM (SELECT string_agg(chr(65 + (range % 26)::INT), '') AS s"
    " FROM range(80000))",
    "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, orders f, orders g, orders h",
    "SELECT count(*) FROM range(1000000000) WHERE md5(range::VARCHAR) = 'x'",
]
GREEDY = [
    "SELECT length(list_reduce(range(40), (a, x) -> a || a, 'xy'))",
    "SELECT len(list_reduce(range(40), (a, x) -> list_concat(a, a), [1]))",
    "SELECT length(format('{:>{}}', 'x', 1000000000))",
    "SELECT len(list(range)) FROM range(300000000)",
    "SELECT length(string_agg(repeat('x', 1000), '')) FROM range(2000000)",
    "SELECT count(DISTINCT s) FROM (SELECT md5(range::VARCHAR) AS s FROM range(100000000))",
]


@pytest.fixture(scope="module")
def bounded() -> Iterator[SandboxSession]:
    with SqlSandbox(timeout_s=TIMEOUT_S, memory_limit=MEMORY_LIMIT).session(None, _catalog()) as s:
        yield s


@pytest.mark.parametrize("sql", SLOW)
def test_planning_binding_and_execution_end_at_the_deadline(sql: str, bounded: SandboxSession) -> None:
    started = time.monotonic()
    result = bounded.execute(sql)
    elapsed = time.monotonic() - started
    assert not result.ok and result.refused, result
    assert result.error == f"time limit exceeded: stopped after {TIMEOUT_S:g} s"
    assert elapsed < TIMEOUT_S + 0.5  # the worker is killed at the deadline, not asked to stop
    after = bounded.execute("SELECT count(*) FROM customers")
    assert after.rows == [(24,)], after


@pytest.mark.parametrize("sql", GREEDY)
def test_memory_growth_is_bounded_by_the_limit(sql: str) -> None:
    with SqlSandbox(timeout_s=10, memory_limit=MEMORY_LIMIT).session(None, _catalog()) as s:
        assert s.execute("SELECT 1").ok
        baseline = s.peak_rss_bytes
        result = s.execute(sql)
        peak = s.peak_rss_bytes
        after = s.execute("SELECT count(*) FROM orders")
    assert not result.ok and result.refused, result
    assert result.error is not None and result.error.startswith("memory limit exceeded"), result.error
    assert peak - baseline <= 256 * 10**6, (peak, baseline)
    assert after.rows == [(24,)]


def test_results_are_capped_in_bytes() -> None:
    with SandboxSession(build_instance(None, _catalog()), max_bytes=100_000, max_rows=1000) as s:
        wide = s.execute("SELECT repeat('x', 1000) || range AS s FROM range(1000)")
        narrow = s.execute("SELECT range FROM range(500)")
        huge = s.execute("SELECT string_agg('ab', '') FROM range(200000)")
    assert wide.ok and wide.truncated and 50 < wide.row_count < 100
    assert len(pickle.dumps(wide.rows)) <= 100_000
    assert wide.rows[0] == ("x" * 1000 + "0",)
    assert narrow.ok and not narrow.truncated and narrow.row_count == 500
    assert not huge.ok and huge.refused
    assert huge.error == "result limit exceeded: the first row alone is over 100000 bytes"


def test_statements_run_in_one_persistent_small_isolated_worker() -> None:
    with SqlSandbox().session(None, _catalog()) as session:
        _check_one_small_worker(session)


def _check_one_small_worker(session: SandboxSession) -> None:
    pid = session.worker_pid
    assert pid is not None and pid != os.getpid()
    for i in range(40):
        assert session.execute(f"SELECT {i} AS i").rows == [(i,)]
    assert session.worker_pid == pid
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert command[1:3] == [b"-I", str(Path(worker.__file__).resolve()).encode()]
    assert b"HOME=/nonexistent" in environment
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    maps = Path(f"/proc/{pid}/maps").read_text(encoding="ascii", errors="replace")
    assert "torch" not in maps and "dagster" not in maps
    assert session.peak_rss_bytes < 200 * 2**20


def test_a_killed_worker_is_restarted_for_the_next_statement() -> None:
    with SqlSandbox(timeout_s=TIMEOUT_S).session(None, _catalog()) as s:
        first = s.worker_pid
        assert s.execute(NEVER_ENDING).error == f"time limit exceeded: stopped after {TIMEOUT_S:g} s"
        assert s.worker_pid is None and first is not None and not Path(f"/proc/{first}").exists()
        assert s.execute("SELECT count(*) FROM orders").rows == [(24,)]
        assert s.workers_started == 2 and s.worker_pid not in (None, first)


def test_an_unclosed_session_ends_its_worker_when_collected() -> None:
    s = SqlSandbox().session(None, _catalog())
    pid = s.worker_pid
    assert pid is not None and Path(f"/proc/{pid}").exists()
    del s
    gc.collect()
    assert not Path(f"/proc/{pid}").exists()


def test_a_session_on_a_connection_copies_it_and_closes_it() -> None:
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE t AS SELECT range AS a, 'v' || range AS b FROM range(3)")
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE s.u AS SELECT 1.5::DECIMAL(4, 1) AS d, DATE '2024-02-29' AS day")
    with SandboxSession(con) as session:
        t = session.execute("SELECT * FROM t ORDER BY a")
        u = session.execute("SELECT typeof(d), d, day FROM s.u")
    with pytest.raises(duckdb.Error):
        con.execute("SELECT 1")
    assert t.rows == [(0, "v0"), (1, "v1"), (2, "v2")]
    assert u.rows[0][0] == "DECIMAL(4,1)" and str(u.rows[0][1]) == "1.5" and u.rows[0][2].isoformat() == "2024-02-29"


def test_a_file_that_is_not_a_database_fails_when_the_session_opens(tmp_path: Path) -> None:
    bogus = tmp_path / "database.duckdb"
    bogus.write_text("not a database", encoding="utf-8")
    with pytest.raises(duckdb.Error):
        SqlSandbox().session(bogus, _catalog())
    with pytest.raises(FileNotFoundError):
        SqlSandbox().session(tmp_path / "missing.duckdb", _catalog())


# Catalog views that tell more than the sandbox's own tables: settings, attached files, secrets, ...
LEAKS = [
    "SELECT name, setting FROM pg_catalog.pg_settings",
    "SELECT * FROM pg_settings",
    "SELECT * FROM duckdb_databases",
    "SELECT * FROM pragma_database_list",
    "SELECT * FROM system.main.duckdb_databases",
    "SELECT datname FROM pg_database",
    "SELECT * FROM orders WHERE id IN (SELECT oid FROM pg_catalog.pg_class)",
    'SELECT * FROM "DuckDB_Databases"',
    "SELECT * FROM sqlite_master",
    "SELECT * FROM temp.information_schema.tables",
    "WITH pg_settings AS (SELECT 1 AS x) SELECT * FROM pg_settings",
    "SELECT write_log('x')",
]


@pytest.mark.parametrize("sql", LEAKS)
def test_catalog_leaks_are_refused(sql: str, session: SandboxSession) -> None:
    result = session.execute(sql)
    assert not result.ok and result.refused and result.error


def test_information_schema_shows_the_sandbox_tables_and_no_paths(tmp_path: Path) -> None:
    source = tmp_path / "private_home" / "database.duckdb"
    source.parent.mkdir()
    _source_database(source)
    with SqlSandbox().session(source, _catalog()) as s:
        answers = [
            s.execute(f"SELECT * FROM information_schema.{view}")
            for view in ("tables", "columns", "schemata", "views", "table_constraints")
        ]
        names = s.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1")
    assert all(a.ok for a in answers)
    assert "private_home" not in repr([a.rows for a in answers]) and str(tmp_path) not in repr(answers)
    assert names.rows == [("cheap",), ("items",), ("prices",)]


def test_a_lone_surrogate_is_a_result(session: SandboxSession) -> None:
    for sql, dialect in (
        ("SELECT '\udc80' AS x", "duckdb"),
        ("SELECT 'a\ud800b'", "mysql"),
        ("SELECT U&'\\D800'", "postgres"),
    ):
        result = session.execute(sql, dialect)
        assert not result.ok and result.refused and result.error, (sql, result)


@pytest.fixture(scope="module")
def big_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file over 250 MB: random 64-bit hashes do not compress."""
    path = tmp_path_factory.mktemp("big") / "database.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE big AS SELECT range AS id, hash(range) AS h1, hash(range + 1) AS h2,"
            " hash(range + 2) AS h3, hash(range + 3) AS h4 FROM range(8500000)"
        )
    assert path.stat().st_size > 250 * 10**6
    return path


def test_a_database_over_250_mb_works(big_database: Path) -> None:
    before = (big_database.stat().st_size, big_database.stat().st_mtime_ns)
    with SqlSandbox(timeout_s=20).session(big_database, pl.DataFrame()) as s:
        count = s.execute("SELECT count(*), count(DISTINCT id % 7) FROM big")
        scan = s.execute("SELECT sum(h1 % 1000), max(h4) FROM big")  # reads every page through a smaller buffer pool
        top = s.execute("SELECT id FROM big ORDER BY h2 LIMIT 3")
        peak = s.peak_rss_bytes
    assert count.rows == [(8500000, 7)], count
    assert scan.ok and top.ok and top.row_count == 3, (scan, top)
    assert peak < 600 * 10**6
    con = build_instance(big_database, pl.DataFrame())  # in-process, too
    try:
        assert con.execute("SELECT count(*) FROM big").fetchone() == (8500000,)
    finally:
        con.close()
    assert (big_database.stat().st_size, big_database.stat().st_mtime_ns) == before
