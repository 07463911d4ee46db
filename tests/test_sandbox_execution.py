"""Tests of the sandbox's instances, limits and resource, including the hostile SQL corpus."""

from __future__ import annotations

import hashlib
import json
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
)

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
        assert "time limit exceeded" in result.error or "memory limit exceeded" in result.error
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
                " 'lock_configuration', 'threads', 'temp_directory', 'allowed_directories', 'allowed_paths')"
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


class _Faulty:
    """Delegates to a real connection, except for the attributes a test replaces."""

    def __init__(self, con: duckdb.DuckDBPyConnection, **replaced: object) -> None:
        self._con = con
        self._replaced = replaced

    def __getattr__(self, name: str) -> object:
        return self._replaced[name] if name in self._replaced else getattr(self._con, name)


def _raise_memory_error(*_: object) -> None:
    raise MemoryError("no room for the rows")


def test_python_side_failure_is_a_result_not_an_exception() -> None:
    con = build_instance(None, _catalog())
    with SandboxSession(_Faulty(con, fetchmany=_raise_memory_error)) as s:  # type: ignore[arg-type]
        result = s.execute("SELECT 1")
    assert not result.ok and not result.refused
    assert result.error == "MemoryError: no room for the rows"


def test_engine_parser_must_agree_with_the_policy() -> None:
    con = build_instance(None, _catalog())
    two = con.extract_statements("SELECT 1; SELECT 2")
    with SandboxSession(_Faulty(con, extract_statements=lambda _: two)) as s:  # type: ignore[arg-type]
        result = s.execute("SELECT 1")
    assert not result.ok and result.refused
    assert result.error == "DuckDB does not parse it as a single SELECT statement"


def test_session_rejects_bad_limits() -> None:
    con = duckdb.connect(":memory:")
    with pytest.raises(ValueError, match="timeout_s"):
        SandboxSession(con, timeout_s=0)
    with pytest.raises(ValueError, match="max_rows"):
        SandboxSession(con, max_rows=-1)
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


def test_build_instance_copies_a_database_file_read_only(tmp_path: Path) -> None:
    source = tmp_path / "database.duckdb"
    _source_database(source)
    before = _snapshot(tmp_path)
    con = build_instance(source, _catalog())
    try:
        tables = con.execute(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() ORDER BY table_name"
        ).fetchall()
        databases = {row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        items = con.execute("SELECT * FROM items ORDER BY id").fetchall()
        price = con.execute("SELECT typeof(price), price FROM prices").fetchone()
    finally:
        con.close()
    assert tables == [("memory", "main", "items"), ("memory", "main", "prices")]
    assert "src" not in databases
    assert items == [(1, "one"), (2, "two"), (3, "three")]
    assert price is not None and price[0] == "DECIMAL(10,2)"
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
