"""Table-driven tests of SQL analysis against the catalog, the seed fields, and extract_columns on the demo domain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from asasql_assets.synthesis.extraction import (
    DROP_REASONS,
    EXTRACTED_SCHEMA,
    SqlAnalysis,
    analyse_sql,
    extract_columns,
    seed_column_field,
    seed_table_field,
)
from asasql_resources.domain import Domain, load_domain
from asasql_resources.sandbox import SandboxSession, SqlSandbox

DEMO = Path(__file__).resolve().parent.parent / "project_data"


@pytest.fixture(scope="module")
def demo() -> Domain:
    return load_domain(DEMO)


@pytest.fixture(scope="module")
def session(demo: Domain) -> Iterator[SandboxSession]:
    with SqlSandbox().session(demo.database_path, demo.catalog) as opened:
        yield opened


# ------------------------------------------------------------------------------------------------- analyse_sql

# (sql, dialect, tables, columns, unknown_tables, unknown_columns)
ANALYSE = [
    (
        "SELECT COUNT(*) FROM regions WHERE status = 'preview'",
        "duckdb",
        ["regions"],
        ["regions.status"],
        [],
        [],
    ),
    (  # join with aliases; a bare column resolved through the schema; an ORDER BY alias is not a column
        "SELECT r.region_name, COUNT(*) AS n FROM regions r JOIN availability_zones z ON z.region_id = r.region_id"
        " WHERE data_center LIKE 'A%' GROUP BY r.region_name ORDER BY n DESC",
        "duckdb",
        ["regions", "availability_zones"],
        ["regions.region_name", "availability_zones.region_id", "regions.region_id", "availability_zones.data_center"],
        [],
        [],
    ),
    (  # a CTE is not a table; its derived columns are not catalog columns
        "WITH big AS (SELECT region_id, SUM(power_capacity_kw) AS p FROM availability_zones GROUP BY region_id)"
        " SELECT b.region_id, p FROM big b WHERE p > 10",
        "duckdb",
        ["availability_zones"],
        ["availability_zones.region_id", "availability_zones.power_capacity_kw"],
        [],
        [],
    ),
    (  # a CTE shadowing a physical table of the same name
        "WITH regions AS (SELECT * FROM regions WHERE status = 'active') SELECT city FROM regions",
        "duckdb",
        ["regions"],
        ["city", "regions.status"],
        [],
        [],
    ),
    (  # a derived table with an alias
        "SELECT sub.c FROM (SELECT city AS c FROM regions) AS sub",
        "duckdb",
        ["regions"],
        ["regions.city"],
        [],
        [],
    ),
    (  # an IN subquery
        "SELECT * FROM hosts WHERE zone_id IN (SELECT zone_id FROM availability_zones WHERE status = 'impaired')",
        "duckdb",
        ["hosts", "availability_zones"],
        ["hosts.zone_id", "availability_zones.zone_id", "availability_zones.status"],
        [],
        [],
    ),
    (  # a correlated subquery: h.host_id resolves through the outer scope
        "SELECT h.hostname FROM hosts h WHERE EXISTS"
        " (SELECT 1 FROM instances i WHERE i.host_id = h.host_id AND vcpus > 8)",
        "duckdb",
        ["hosts", "instances"],
        ["hosts.hostname", "instances.host_id", "hosts.host_id", "instances.vcpus"],
        [],
        [],
    ),
    ("SELECT * FROM regions", "duckdb", ["regions"], [], [], []),
    ("SELECT t.* FROM main.regions AS t", "duckdb", ["regions"], [], [], []),
    (  # mixed case matches the catalog and comes back in its spelling
        "SELECT T.Region_Name FROM Regions T WHERE T.STATUS = 'active'",
        "duckdb",
        ["regions"],
        ["regions.region_name", "regions.status"],
        [],
        [],
    ),
    ('SELECT "Region_ID" FROM "REGIONS"', "duckdb", ["regions"], ["regions.region_id"], [], []),
    (  # MySQL backticks
        "SELECT `region_name`, COUNT(*) FROM `regions` GROUP BY `region_name`",
        "mysql",
        ["regions"],
        ["regions.region_name"],
        [],
        [],
    ),
    (  # an unknown column of a known table, bare or through an alias
        "SELECT nope, z.Missing, z.zone_id FROM availability_zones z",
        "duckdb",
        ["availability_zones"],
        ["availability_zones.nope", "availability_zones.Missing", "availability_zones.zone_id"],
        [],
        ["availability_zones.nope", "availability_zones.Missing"],
    ),
    (  # an unknown table keeps its written spelling
        "SELECT Foo FROM Ghost",
        "duckdb",
        ["Ghost"],
        ["Ghost.Foo"],
        ["Ghost"],
        ["Ghost.Foo"],
    ),
    (  # a bare name that two tables have stays unqualified, and is known
        "SELECT region_id FROM regions, availability_zones",
        "duckdb",
        ["regions", "availability_zones"],
        ["region_id"],
        [],
        [],
    ),
    (
        "SELECT region_id FROM regions UNION SELECT zone_id FROM availability_zones",
        "duckdb",
        ["regions", "availability_zones"],
        ["regions.region_id", "availability_zones.zone_id"],
        [],
        [],
    ),
    (  # table functions and lambda parameters are neither tables nor columns
        "SELECT list_transform([1, 2], x -> x + 1) FROM range(3)",
        "duckdb",
        [],
        [],
        [],
        [],
    ),
    ("DROP TABLE regions", "duckdb", ["regions"], [], [], []),  # parses; the sandbox refuses it
]


@pytest.mark.parametrize(("sql", "dialect", "tables", "columns", "unknown_tables", "unknown_columns"), ANALYSE)
def test_analyse_sql(
    demo: Domain,
    sql: str,
    dialect: str,
    tables: list[str],
    columns: list[str],
    unknown_tables: list[str],
    unknown_columns: list[str],
) -> None:
    assert analyse_sql(sql, dialect, demo.catalog) == SqlAnalysis(
        parse_ok=True,
        parse_error=None,
        tables=tables,
        columns=columns,
        unknown_tables=unknown_tables,
        unknown_columns=unknown_columns,
    )


@pytest.mark.parametrize(
    ("sql", "dialect", "error"),
    [
        ("SELECT FROM WHERE (", "duckdb", "Expected table name but got 'WHERE' (line 1, col 17)"),
        ("SELECT 1; SELECT 2", "duckdb", "expected one statement, found 2"),
        ("", "duckdb", "empty statement"),
        ("SELECT 'abc", "duckdb", "Error tokenizing"),
        ("SELECT 1", "no_such_dialect", "unknown dialect 'no_such_dialect'"),
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "duckdb", ""),
    ],
)
def test_analyse_sql_reports_parse_errors(demo: Domain, sql: str, dialect: str, error: str) -> None:
    analysis = analyse_sql(sql, dialect, demo.catalog)
    assert not analysis.parse_ok
    assert analysis.parse_error is not None and analysis.parse_error.startswith(error)
    assert analysis.tables == analysis.columns == analysis.unknown_tables == analysis.unknown_columns == []


# ----------------------------------------------------------------------------------------------- seed fields

REGIONS = "(regions;One row per cloud region: a geographic area that contains several availability zones.)"
STATUS = '(status;区域状态;Operational state of the region.;["active", "maintenance", "preview"])'
POWER = (
    "(power_capacity_kw;供电容量（千瓦）;Contracted power capacity of the zone in kilowatts.;"
    "[2005.7, 2819.9, 4761.0, 5539.6, 6202.7])"
)


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        (["regions"], REGIONS),
        (["Regions", "regions", "ghost"], REGIONS),
        (["regions", "availability_zones"], REGIONS + "\n(availability_zones;"),
        ([], ""),
    ],
)
def test_seed_table_field(demo: Domain, tables: list[str], expected: str) -> None:
    assert seed_table_field(demo.catalog, tables).startswith(expected)
    assert bool(seed_table_field(demo.catalog, tables)) == bool(expected)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["regions.status"], STATUS),
        (["REGIONS.Status", "regions.status"], STATUS),
        (["status"], STATUS),  # a bare name: the first catalog table that has it
        (["availability_zones.power_capacity_kw"], POWER),  # numbers stay numbers, as in the seed
        (["regions.status", "availability_zones.power_capacity_kw"], f"{STATUS}\n{POWER}"),
        (["tenants.is_verified"], "(is_verified;是否已认证;Whether the tenant passed identity and payment"),
        (["regions.nope", "ghost.status", "nope"], ""),
    ],
)
def test_seed_column_field(demo: Domain, columns: list[str], expected: str) -> None:
    assert seed_column_field(demo.catalog, columns).startswith(expected)
    assert bool(seed_column_field(demo.catalog, columns)) == bool(expected)


def test_seed_fields_equal_the_labeled_samples_of_the_demo(demo: Domain, session: SandboxSession) -> None:
    """On the positive samples, the fields built from the SQL are exactly the seed's own."""
    positives = demo.samples.filter(pl.col("label"))
    candidates = positives.select(
        pl.col("sample_id").cast(pl.String).alias("candidate_id"),
        pl.lit("q").alias("question_id"),
        pl.col("origin_query").alias("question"),
        "table_name",
        "sql",
    )
    checked = extract_columns(candidates, demo.catalog, demo.config.sql_dialect, session)
    assert checked["drop_reason"].null_count() == positives.height
    for got_table, got_column, (seed_table, seed_column) in zip(
        checked["table"], checked["column"], positives.select("table", "column").iter_rows(), strict=False
    ):
        assert set(got_table.splitlines()) == set(seed_table.splitlines())
        assert set(got_column.splitlines()) == set(seed_column.splitlines())
    assert "[false, true]" in "\n".join(checked["column"])  # booleans are JSON booleans, as in the seed


# -------------------------------------------------------------------------------------------- extract_columns

# (sql, drop_reason, exec_ok, row_count, empty_result)
CANDIDATES = [
    ("SELECT COUNT(*) FROM regions WHERE status = 'preview'", None, True, 1, False),
    (
        "SELECT r.region_name, z.zone_id FROM regions r JOIN availability_zones z ON z.region_id = r.region_id",
        None,
        True,
        16,
        False,
    ),
    ("SELECT region_id FROM regions WHERE status = 'gone'", None, True, 0, True),
    ("SELECT MAX(power_capacity_kw) FROM availability_zones WHERE status = 'gone'", None, True, 1, True),
    (None, "no_sql", False, 0, False),
    ("   ", "no_sql", False, 0, False),
    ("SELECT FROM WHERE (", "parse_error", False, 0, False),
    ("SELECT * FROM ghost", "unknown_table", False, 0, False),
    ("SELECT nope FROM regions", "unknown_column", False, 0, False),
    ("DROP TABLE regions", "refused", False, 0, False),
    ("SELECT * FROM read_csv('/etc/passwd')", "refused", False, 0, False),
    ("SELECT CAST(region_name AS INTEGER) FROM regions", "exec_error", False, 0, False),
]


def _candidates(sqls: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "candidate_id": [f"q{i}-0" for i in range(len(sqls))],
            "question_id": [f"q{i}" for i in range(len(sqls))],
            "question": ["How many regions are in preview?"] * len(sqls),
            "table_name": ["regions"] * len(sqls),
            "sql": sqls,
        },
        schema={name: pl.String() for name in ("candidate_id", "question_id", "question", "table_name", "sql")},
    )


@pytest.fixture(scope="module")
def checked(demo: Domain, session: SandboxSession) -> pl.DataFrame:
    return extract_columns(_candidates([row[0] for row in CANDIDATES]), demo.catalog, "duckdb", session)


def test_extract_columns_has_one_typed_row_per_candidate(checked: pl.DataFrame) -> None:
    assert checked.schema == pl.Schema(EXTRACTED_SCHEMA)
    assert checked["candidate_id"].to_list() == [f"q{i}-0" for i in range(len(CANDIDATES))]
    assert set(checked["drop_reason"].drop_nulls()) == set(DROP_REASONS)


@pytest.mark.parametrize(("position", "case"), list(enumerate(CANDIDATES)))
def test_extract_columns_row(
    checked: pl.DataFrame, position: int, case: tuple[str | None, str | None, bool, int, bool]
) -> None:
    sql, drop_reason, exec_ok, row_count, empty_result = case
    row = checked.row(position, named=True)
    assert row["sql"] == sql
    assert (row["drop_reason"], row["exec_ok"], row["row_count"], row["empty_result"]) == (
        drop_reason,
        exec_ok,
        row_count,
        empty_result,
    )
    assert row["refused"] == (drop_reason == "refused")
    assert (row["exec_error"] is not None) == (drop_reason in ("unknown_column", "refused", "exec_error"))
    assert (row["elapsed_ms"] > 0) == (drop_reason not in ("no_sql", "parse_error", "unknown_table"))
    assert row["parse_ok"] == (drop_reason not in ("no_sql", "parse_error"))
    assert (row["parse_error"] is not None) == (drop_reason == "parse_error")
    known = [name for name in row["tables"] if name not in row["unknown_tables"]]
    assert [line[1:].split(";")[0] for line in row["table"].splitlines()] == (known or ["regions"])
    for line in row["column"].splitlines():
        name, zh, description, values = line[1:-1].split(";")
        assert name and zh and description and isinstance(json.loads(values), list)


def test_extract_columns_fills_the_seed_fields(checked: pl.DataFrame) -> None:
    good, join = checked.row(0, named=True), checked.row(1, named=True)
    assert (good["tables"], good["columns"]) == (["regions"], ["regions.status"])
    assert good["table"] == REGIONS
    assert good["column"] == STATUS
    assert join["table"].splitlines()[1].startswith("(availability_zones;One row per availability zone")
    assert [line.split(";")[0] for line in join["column"].splitlines()] == [
        "(region_name",
        "(zone_id",
        "(region_id",
        "(region_id",
    ]
    unknown = checked.row(7, named=True)
    assert (unknown["unknown_tables"], unknown["table"], unknown["column"]) == (["ghost"], REGIONS, "")


def test_extract_columns_reports_progress(demo: Domain, session: SandboxSession) -> None:
    calls: list[tuple[int, int]] = []
    frame = _candidates(["SELECT 1"] * 120)
    extract_columns(frame, demo.catalog, "duckdb", session, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(50, 120), (100, 120), (120, 120)]


def test_extract_columns_on_no_candidates(demo: Domain, session: SandboxSession) -> None:
    empty = extract_columns(_candidates([]), demo.catalog, "duckdb", session)
    assert empty.is_empty()
    assert empty.schema == pl.Schema(EXTRACTED_SCHEMA)
