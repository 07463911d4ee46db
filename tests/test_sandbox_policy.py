"""Table-driven tests of the sandbox's parse-level policy (check_sql)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pytest
import sqlglot

from asasql_resources.sandbox import SqlCheck, check_sql
from asasql_resources.sandbox.policy import MAX_SQL_CHARS

CORPUS = Path(__file__).parent / "data" / "hostile_sql.jsonl"

# (sql, dialect, a fragment of the DuckDB text it must become)
VALID = [
    ("SELECT id, name FROM customers WHERE city = 'Paris'", "duckdb", "WHERE city = 'Paris'"),
    (
        "SELECT c.name, SUM(o.amount) AS total FROM customers AS c JOIN orders AS o ON o.customer_id = c.id"
        " GROUP BY c.name ORDER BY total DESC LIMIT 5",
        "duckdb",
        "JOIN orders AS o ON o.customer_id = c.id",
    ),
    (
        "SELECT c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE o.id IS NULL",
        "duckdb",
        "LEFT JOIN",
    ),
    ("SELECT * FROM orders a CROSS JOIN customers b", "duckdb", "CROSS JOIN"),
    ("WITH big AS (SELECT * FROM orders WHERE amount > 10) SELECT count(*) FROM big", "duckdb", "WITH big"),
    (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n",
        "duckdb",
        "WITH RECURSIVE",
    ),
    (
        "SELECT id, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS r FROM orders",
        "duckdb",
        "OVER (PARTITION BY customer_id",
    ),
    (
        "SELECT id, sum(amount) OVER (ORDER BY day ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM orders",
        "duckdb",
        "ROWS BETWEEN 2 PRECEDING",
    ),
    ("SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY customer_id) = 1", "duckdb", "QUALIFY"),
    (
        "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > 100)",
        "duckdb",
        "IN (SELECT customer_id",
    ),
    (
        "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
        "duckdb",
        "EXISTS",
    ),
    ("SELECT t.n FROM (SELECT count(*) AS n FROM orders) AS t", "duckdb", "AS t"),
    ("SELECT (SELECT max(amount) FROM orders) AS top", "duckdb", "(SELECT MAX(amount) FROM orders)"),
    ("SELECT id FROM orders UNION SELECT id FROM customers", "duckdb", "UNION"),
    ("SELECT id FROM orders UNION ALL SELECT id FROM customers ORDER BY 1 LIMIT 3", "duckdb", "UNION ALL"),
    ("SELECT id FROM orders INTERSECT SELECT id FROM customers", "duckdb", "INTERSECT"),
    ("SELECT id FROM orders EXCEPT SELECT id FROM customers", "duckdb", "EXCEPT"),
    ("(SELECT 1) UNION (SELECT 2)", "duckdb", "UNION"),
    ("(SELECT 1)", "duckdb", "SELECT 1"),
    ("FROM orders SELECT id", "duckdb", "SELECT id FROM orders"),
    ("SELECT CASE WHEN amount > 10 THEN 'big' ELSE 'small' END AS size FROM orders", "duckdb", "CASE WHEN"),
    ("SELECT day, count(*) FROM orders GROUP BY 1 HAVING count(*) > 1", "duckdb", "HAVING COUNT(*) > 1"),
    ("SELECT * FROM range(10)", "duckdb", "RANGE(0, 10)"),
    ("SELECT x FROM generate_series(1, 5) AS t(x)", "duckdb", "GENERATE_SERIES(1, 5)"),
    ("SELECT * FROM unnest([1, 2, 3])", "duckdb", "UNNEST([1, 2, 3])"),
    ("SELECT lpad(CAST(id AS VARCHAR), 5, '0') FROM orders", "duckdb", "LPAD("),
    ("SELECT repeat('-', 20)", "duckdb", "REPEAT('-', 20)"),
    ("SELECT replace(name, ' ', '') FROM customers", "duckdb", "REPLACE(name, ' ', '')"),
    ("SELECT regexp_replace(name, '\\s+', ' ', 'g') FROM customers", "duckdb", "REGEXP_REPLACE"),
    ("SELECT format('{} has {}', name, id) FROM customers", "duckdb", "FORMAT("),
    ("SELECT range(5) AS small_list", "duckdb", "RANGE(0, 5)"),
    ("SELECT list_transform([1, 2], x -> x * 2)", "duckdb", "LAMBDA x : x * 2"),
    ('SELECT "客户名称" FROM "客户表"', "duckdb", '"客户表"'),
    ("SELECT * FROM main.orders", "duckdb", "main.orders"),
    ("SELECT 1;", "duckdb", "SELECT 1"),
    ("SELECT 1 -- a comment", "duckdb", "SELECT 1"),
    # other dialects are transpiled to DuckDB
    (
        "SELECT `name`, COUNT(*) AS n FROM `customers` GROUP BY `name` LIMIT 5, 10",
        "mysql",
        'SELECT "name", COUNT(*) AS n FROM "customers" GROUP BY "name" LIMIT 10 OFFSET 5',
    ),
    ("SELECT IFNULL(city, 'unknown') FROM customers", "mysql", "COALESCE(city, 'unknown')"),
    ("SELECT DATE_FORMAT(day, '%Y-%m') AS m FROM orders", "mysql", "STRFTIME("),
    ("SELECT name FROM customers WHERE name LIKE 'A%' LIMIT 3 OFFSET 2", "sqlite", "LIMIT 3 OFFSET 2"),
    ("SELECT strftime('%Y', day) AS y, count(*) FROM orders GROUP BY y", "sqlite", "STRFTIME("),
    ('SELECT * FROM "order details"', "sqlite", '"order details"'),
    ("SELECT name::text FROM customers", "postgres", "CAST(name AS TEXT)"),
    ("SELECT TOP 5 name FROM customers ORDER BY name", "tsql", "LIMIT 5"),
    ("SELECT * FROM [order details]", "tsql", '"order details"'),
    ("SELECT `name` FROM customers", "spark", 'SELECT "name" FROM customers'),
]

# (sql, dialect, a fragment of the reason)
REFUSED = [
    # not one statement
    ("", "duckdb", "empty statement"),
    ("   \n\t", "duckdb", "empty statement"),
    (";;", "duckdb", "empty statement"),
    ("-- only a comment", "duckdb", "empty statement"),
    ("SELECT 1; SELECT 2", "duckdb", "not a single SELECT statement: found 2 statements"),
    ("select 1; drop table x", "duckdb", "found 2 statements"),
    ("SELECT 1 -- c\n; DROP TABLE t", "duckdb", "found 2 statements"),
    ("SELECT 1 /* ; */; DELETE FROM t", "duckdb", "found 2 statements"),
    ("SELECT 1; SELECT 2; SELECT 3", "duckdb", "found 3 statements"),
    # not a SELECT
    ("DROP TABLE t", "duckdb", "not a SELECT statement: found DROP"),
    ("/* SELECT 1 */ DROP TABLE t", "duckdb", "found DROP"),
    ("CREATE TABLE x AS SELECT 1", "duckdb", "found CREATE"),
    ("CREATE MACRO m() AS 1", "duckdb", "found CREATE"),
    ("ALTER TABLE t ADD COLUMN c INT", "duckdb", "found ALTER"),
    ("INSERT INTO t VALUES (1)", "duckdb", "found INSERT"),
    ("UPDATE t SET a = 1", "duckdb", "found UPDATE"),
    ("DELETE FROM t", "duckdb", "found DELETE"),
    ("TRUNCATE t", "duckdb", "found TRUNCATE"),
    ("COPY t TO '/tmp/x.csv'", "duckdb", "found COPY"),
    ("COPY t FROM '/tmp/x.csv'", "duckdb", "found COPY"),
    ("ATTACH '/tmp/x.duckdb' AS x", "duckdb", "found ATTACH"),
    ("DETACH x", "duckdb", "found DETACH"),
    ("INSTALL httpfs", "duckdb", "found INSTALL"),
    ("LOAD httpfs", "duckdb", "found LOAD"),
    ("PRAGMA database_list", "duckdb", "found PRAGMA"),
    ("SET enable_external_access = true", "duckdb", "found SET"),
    ("RESET memory_limit", "duckdb", "found RESET"),
    ("CALL pragma_version()", "duckdb", "found CALL"),
    ("EXPORT DATABASE '/tmp/x'", "duckdb", "parse error"),
    ("IMPORT DATABASE '/tmp/x'", "duckdb", "parse error"),
    ("USE system", "duckdb", "found USE"),
    ("BEGIN TRANSACTION", "duckdb", "found BEGIN"),
    ("CHECKPOINT", "duckdb", "not a SELECT statement"),
    ("VACUUM", "duckdb", "found VACUUM"),
    ("DESCRIBE t", "duckdb", "found DESCRIBE"),
    ("SUMMARIZE t", "duckdb", "found SUMMARIZE"),
    ("SHOW TABLES", "duckdb", "found SHOW"),
    ("EXPLAIN SELECT 1", "duckdb", "found EXPLAIN"),
    ("VALUES (1)", "duckdb", "found VALUES"),
    ("PIVOT t ON a USING sum(b)", "duckdb", "found PIVOT"),
    # forbidden clauses inside a SELECT
    ("SELECT 1 INTO x", "duckdb", "SELECT ... INTO is not allowed"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "duckdb", "forbidden statement DELETE inside"),
    # functions that read files or URLs
    ("SELECT * FROM read_csv('/etc/passwd')", "duckdb", "forbidden function read_csv"),
    ("SELECT * FROM read_csv_auto('x.csv')", "duckdb", "forbidden function read_csv_auto"),
    ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "duckdb", "function read_parquet"),
    ("SELECT * FROM read_json('x.json')", "duckdb", "forbidden function read_json"),
    ("SELECT * FROM read_json_auto('x.json')", "duckdb", "forbidden function read_json_auto"),
    ("SELECT * FROM read_ndjson('x.json')", "duckdb", "forbidden function read_ndjson"),
    ("SELECT * FROM read_text('/etc/hostname')", "duckdb", "forbidden function read_text"),
    ("SELECT * FROM read_blob('/etc/hostname')", "duckdb", "forbidden function read_blob"),
    ("SELECT * FROM glob('/etc/*')", "duckdb", "forbidden function glob"),
    ("SELECT * FROM parquet_scan('x.parquet')", "duckdb", "forbidden function parquet_scan"),
    ("SELECT * FROM parquet_metadata('x.parquet')", "duckdb", "forbidden function parquet_metadata"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "duckdb", "forbidden function sqlite_scan"),
    ("SELECT * FROM postgres_scan('dbname=x', 'public', 't')", "duckdb", "forbidden function postgres_scan"),
    ("SELECT * FROM iceberg_scan('s3://b/t')", "duckdb", "forbidden function iceberg_scan"),
    ("SELECT * FROM delta_scan('s3://b/t')", "duckdb", "forbidden function delta_scan"),
    ("SELECT * FROM sniff_csv('x.csv')", "duckdb", "forbidden function sniff_csv"),
    ("SELECT * FROM t, LATERAL read_csv('x.csv')", "duckdb", "forbidden function read_csv"),
    ("SELECT (SELECT count(*) FROM read_csv('x.csv'))", "duckdb", "forbidden function read_csv"),
    ("WITH x AS (FROM read_text('/etc/passwd')) SELECT * FROM x", "duckdb", "forbidden function read_text"),
    ("SELECT * FROM t WHERE a IN (SELECT * FROM glob('/tmp/*'))", "duckdb", "forbidden function glob"),
    # string literals and path-like names used as tables
    ("SELECT * FROM '/etc/passwd'", "duckdb", "table reference looks like a file or URL: '/etc/passwd'"),
    ("SELECT * FROM 'data.csv'", "duckdb", "looks like a file or URL: 'data.csv'"),
    ("FROM 'https://example.com/x.parquet'", "duckdb", "looks like a file or URL"),
    ('SELECT * FROM "x.parquet"', "duckdb", "looks like a file or URL: 'x.parquet'"),
    ("SELECT * FROM t JOIN 's3://bucket/x.csv' AS s ON true", "duckdb", "looks like a file or URL"),
    # hidden SQL, probes, and engine state
    ("SELECT * FROM query('SELECT 1')", "duckdb", "forbidden function query"),
    ("SELECT * FROM query_table('t')", "duckdb", "forbidden function query_table"),
    ("SELECT json_execute_serialized_sql('{}')", "duckdb", "forbidden function json_execute_serialized_sql"),
    ("SELECT getenv('HOME')", "duckdb", "forbidden function getenv"),
    ("SELECT current_setting('memory_limit')", "duckdb", "forbidden function current_setting"),
    ("SELECT getvariable('x')", "duckdb", "forbidden function getvariable"),
    ("SELECT * FROM duckdb_settings()", "duckdb", "forbidden function duckdb_settings"),
    ("SELECT * FROM duckdb_secrets()", "duckdb", "forbidden function duckdb_secrets"),
    ("SELECT * FROM which_secret('s3://x', 's3')", "duckdb", "forbidden function which_secret"),
    ("SELECT * FROM pragma_table_info('t')", "duckdb", "forbidden function pragma_table_info"),
    ("SELECT * FROM enable_profiling()", "duckdb", "forbidden function enable_profiling"),
    ("SELECT * FROM register_external_resource('x')", "duckdb", "function register_external_resource"),
    # table functions outside the allowed few
    ("SELECT * FROM repeat_row(1, num_rows = 10)", "duckdb", "table function repeat_row is not allowed"),
    ("SELECT * FROM test_all_types()", "duckdb", "table function test_all_types is not allowed"),
    # size-amplifying functions
    ("SELECT repeat('x', 1000000000)", "duckdb", "repeat would build 1000000000 characters"),
    ("SELECT repeat(name, 3) FROM t", "duckdb", "repeat needs a literal value and a literal count"),
    ("SELECT repeat('x', n) FROM t", "duckdb", "repeat needs a literal value and a literal count"),
    ("SELECT lpad('x', 1000000000, 'y')", "duckdb", "lpad would build 1000000000"),
    ("SELECT rpad(name, n, ' ') FROM t", "duckdb", "rpad needs a literal size"),
    ("SELECT len(range(10000000000))", "duckdb", "generate_series would build"),
    ("SELECT range(n) FROM t", "duckdb", "needs literal integer bounds"),
    ("SELECT len(list_resize([1], 10000000000))", "duckdb", "list_resize would build"),
    ("SELECT bitstring('1', 1000000000)", "duckdb", "bitstring would build"),
    ("SELECT printf('%1000000000d', 1)", "duckdb", "printf would build"),
    ("SELECT printf('%*d', 1000000000, 1)", "duckdb", "may not take its width from an argument"),
    ("SELECT printf(fmt, 1) FROM t", "duckdb", "printf needs a literal format string"),
    ("SELECT format('{:>1000000000}', 'x')", "duckdb", "format would build"),
    ("SELECT list_transform(range(100), x -> repeat('a', 100))", "duckdb", "repeat may not be used inside"),
    (
        "SELECT repeat('a', 5000), lpad('b', 5000, 'c')",
        "duckdb",
        "size-amplifying functions together would build more than 1000000",
    ),
    ("SELECT replace(name, 'a', repl) FROM t", "duckdb", "replace needs a literal pattern and a literal"),
    (
        "SELECT replace(replace(replace(name, 'a', 'aaaa'), 'a', 'aaaa'), 'a', 'aaaa') FROM t",
        "duckdb",
        "grow strings more than 16 times",
    ),
    ("SELECT regexp_replace(name, '', '" + "x" * 20 + "', 'g') FROM t", "duckdb", "more than 16 times"),
    ("SELECT regexp_replace(name, 'a', repl) FROM t", "duckdb", "regexp_replace needs a literal replacement"),
    ("SELECT " + "hex(" * 5 + "name" + ")" * 5 + " FROM t", "duckdb", "hex makes the statement grow strings"),
    ("SELECT to_base64(to_base64(to_base64(to_base64(to_base64(name))))) FROM t", "duckdb", "grow strings"),
    ("SELECT 'x'.repeat(1000000000)", "duckdb", "qualified syntax is not allowed: write repeat("),
    ("SELECT main.repeat('x', 1000000000)", "duckdb", "write repeat(...)"),
    ("SELECT (1).range()", "duckdb", "write range(...)"),
    ("SELECT [1].list_resize(10000000000)", "duckdb", "write list_resize(...)"),
    ("SELECT 'memory_limit'.current_setting()", "duckdb", "forbidden function current_setting"),
    ("SELECT * FROM system.main.read_csv('x.csv')", "duckdb", "forbidden function read_csv"),
    ("SELECT * FROM \"READ_CSV\"('x.csv')", "duckdb", "forbidden function read_csv"),
    # other dialects
    ("SELECT * INTO OUTFILE '/tmp/x' FROM t", "mysql", "parse error"),
    ("LOAD DATA INFILE '/tmp/x' INTO TABLE t", "mysql", "parse error"),
    ("ATTACH DATABASE 'x.db' AS x", "sqlite", "found ATTACH"),
    ("PRAGMA table_info(t)", "sqlite", "found PRAGMA"),
    ("COPY t TO PROGRAM 'rm -rf /'", "postgres", "found COPY"),
    ("SELECT * INTO #tmp FROM t", "tsql", "SELECT ... INTO is not allowed"),
    ("SELECT a FROM t FOR XML PATH", "tsql", "cannot transpile from tsql to duckdb"),
    ("SELECT 1", "no_such_dialect", "unknown dialect 'no_such_dialect'"),
    # garbage
    ("SELECT * FROM", "duckdb", "parse error"),
    ("garbage !!! ((", "duckdb", "parse error"),
    ("SELECT 'unterminated", "duckdb", "parse error"),
    ("/* unterminated", "duckdb", "parse error"),
    ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "duckdb", "statement nests too deeply to check"),
    ("SELECT 1 " + "x" * MAX_SQL_CHARS, "duckdb", f"statement too long: {MAX_SQL_CHARS + 9} characters"),
]


def _case_id(case: tuple[str, str, str]) -> str:
    sql, dialect, _ = case
    return f"{dialect}:{sql[:50]}"


@pytest.mark.parametrize("sql, dialect, fragment", VALID, ids=[_case_id(c) for c in VALID])
def test_valid_query_passes_and_is_transpiled(sql: str, dialect: str, fragment: str) -> None:
    check = check_sql(sql, dialect)
    assert check == SqlCheck(ok=True, reason=None, sql=check.sql), check.reason
    assert check.sql is not None and fragment in check.sql
    assert "/*" not in check.sql and "--" not in check.sql
    assert len(sqlglot.parse(check.sql, read="duckdb")) == 1
    assert check_sql(check.sql) == check, "checking the DuckDB text again gives the same text"


@pytest.mark.parametrize("sql, dialect, fragment", REFUSED, ids=[_case_id(c) for c in REFUSED])
def test_refused_statement_has_a_reason(sql: str, dialect: str, fragment: str) -> None:
    check = check_sql(sql, dialect)
    assert not check.ok
    assert check.sql is None
    assert check.reason is not None and fragment in check.reason, check.reason
    assert "\n" not in check.reason


@pytest.mark.parametrize(
    "sql",
    ["", " ", ";", "\x00", "\ufeffSELECT", "SELECT \x00 FROM t", "'", '"', "`", "$$", "((((", "x" * 100_000],
)
def test_never_raises_on_any_string(sql: str) -> None:
    check = check_sql(sql)
    assert isinstance(check, SqlCheck)
    assert check.ok is (check.sql is not None)
    assert check.ok or check.reason


def test_non_string_input_is_refused() -> None:
    check = check_sql(None)  # type: ignore[arg-type]
    assert check == SqlCheck(ok=False, reason="not a SQL string: got NoneType", sql=None)


def test_sql_check_is_frozen() -> None:
    check = check_sql("SELECT 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.ok = False  # type: ignore[misc]


def _corpus() -> list[dict[str, str]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("entry", _corpus(), ids=lambda e: e["kind"])
def test_hostile_corpus_is_refused_by_the_policy_except_runaway_work(entry: dict[str, str]) -> None:
    # Kinds named runaway_* are valid read-only SELECTs; only the time/memory limits can stop them.
    check = check_sql(entry["sql"].replace("{tmp}", "/nonexistent/sentinel"))
    if entry["kind"].startswith("runaway_"):
        assert check.ok, check.reason
    else:
        assert not check.ok and check.reason, entry


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM a JOIN b ON a.id = b.id AND b.x = 'y'",
        "SELECT * FROM a LEFT JOIN b ON a.id = b.id OR coalesce(b.x, 0) = 1",
        "SELECT * FROM a JOIN b ON (a.id = b.id AND NOT b.flag) JOIN c ON c.id = b.id AND c.y > 2",
    ],
)
def test_a_join_condition_of_several_terms_is_not_a_table_function(sql: str) -> None:
    assert check_sql(sql, "duckdb").ok, check_sql(sql, "duckdb").reason


def test_a_table_function_in_a_join_is_still_checked() -> None:
    assert check_sql("SELECT * FROM a JOIN read_csv('/etc/passwd') ON true", "duckdb").reason == (
        "forbidden function read_csv"
    )


def _system_views() -> list[tuple[str, str, str]]:
    """Every view DuckDB itself defines, outside information_schema."""
    with duckdb.connect(":memory:") as con:
        return con.execute(
            "SELECT database_name, schema_name, view_name FROM duckdb_views()"
            " WHERE internal AND schema_name <> 'information_schema' ORDER BY ALL"
        ).fetchall()


def test_every_system_view_is_refused_however_it_is_written() -> None:
    views = _system_views()
    assert len(views) > 30 and ("system", "pg_catalog", "pg_settings") in views
    for catalog, schema, view in views:
        for reference in (view, view.upper(), f'"{view}"', f"{schema}.{view}", f"{catalog}.{schema}.{view}"):
            check = check_sql(f"SELECT * FROM orders JOIN {reference} ON true")
            assert not check.ok and check.reason, reference


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM information_schema.tables",
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders'",
        "SELECT * FROM main.orders",
        "WITH settings AS (SELECT 1 AS x) SELECT * FROM settings",
        "SELECT * FROM range(3) AS pg(x)",
    ],
)
def test_information_schema_and_ordinary_names_pass(sql: str) -> None:
    assert check_sql(sql).ok, check_sql(sql).reason


@pytest.mark.parametrize(
    "sql, dialect",
    [
        ("SELECT '\udc80'", "duckdb"),
        ("SELECT 1 -- \ud800 in a comment", "duckdb"),
        ("SELECT `a\udfff`", "mysql"),
        ("SELECT U&'\\D800'", "postgres"),
    ],
)
def test_lone_surrogates_are_refused_without_raising(sql: str, dialect: str) -> None:
    check = check_sql(sql, dialect)
    assert not check.ok and check.reason
