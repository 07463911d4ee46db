"""Table-driven tests of SQL candidate prompts (schema context, column selection, truncation) and extract_sql."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from asasql_assets.synthesis.candidates import (
    CONTEXT_STRATEGIES,
    CandidatePrompt,
    build_candidate_prompts,
    sql_examples,
)
from asasql_resources.domain import load_domain
from asasql_resources.nl2sql.answer import extract_sql
from asasql_resources.nl2sql.prompt import schema_context
from tests.domain_factory import CATALOG_SCHEMA

REGIONS = "One row per cloud region."
HOSTS = "One row per physical host."


def _catalog() -> pl.DataFrame:
    rows = [
        ("regions", "region_id", "区域ID", "Region code.", ["us-east-1", "eu-west-1"], "VARCHAR", REGIONS),
        ("regions", "status", "区域状态", "State of the region", ["active", "preview"], "VARCHAR", REGIONS),
        ("regions", "launch_date", "开服日期", "Date the region opened.", [], "DATE", REGIONS),
        ("hosts", "host_id", "主机ID", "Numeric id.", [str(n) for n in range(1, 10)], "BIGINT", HOSTS),
    ]
    rows += [
        ("hosts", f"metric_{n}", f"指标{n}", f"Metric number {n} of the host.", ["0", "1"], "DOUBLE", HOSTS)
        for n in range(1, 15)
    ]
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA, orient="row")


def _questions(*rows: tuple[str, str, str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "question_id": pl.String(),
            "question": pl.String(),
            "table_name": pl.String(),
            "involved_columns": pl.List(pl.String()),
        },
        orient="row",
    )


HOSTS_COLUMNS = ["host_id"] + [f"metric_{n}" for n in range(1, 15)]


# ---------------------------------------------------------------------------------------------- schema_context

SCHEMA_CONTEXT = [
    (
        "regions",
        ["region_id", "status"],
        "Table regions: One row per cloud region.\n"
        "- region_id (VARCHAR, 区域ID): Region code. Values: us-east-1, eu-west-1\n"
        "- status (VARCHAR, 区域状态): State of the region. Values: active, preview",
    ),
    (
        "regions",
        ["launch_date"],
        "Table regions: One row per cloud region.\n- launch_date (DATE, 开服日期): Date the region opened.",
    ),
    ("regions", ["status", "region_id"], None),  # the given order is kept
    ("regions", ["no_such_column"], "Table regions: One row per cloud region."),
    (
        "hosts",
        ["host_id"],
        "Table hosts: One row per physical host.\n- host_id (BIGINT, 主机ID): Numeric id. Values: 1, 2, 3, 4, 5, 6, ...",
    ),
    ("nowhere", ["a"], "Table nowhere"),
]


@pytest.mark.parametrize(("table", "columns", "expected"), SCHEMA_CONTEXT)
def test_schema_context(table: str, columns: list[str], expected: str | None) -> None:
    context = schema_context(_catalog(), table, columns)
    if expected is None:
        lines = context.splitlines()
        assert [line.split()[1] for line in lines[1:]] == columns
    else:
        assert context == expected


# ------------------------------------------------------------------------------------- build_candidate_prompts


def test_prompts_cycle_strategies_and_carry_the_question() -> None:
    questions = _questions(("q1", "How many regions are in preview?", "regions", ["status"]))
    prompts = build_candidate_prompts(questions, _catalog(), k=5, seed=0, dialect="duckdb")
    assert [p.strategy for p in prompts] == [*CONTEXT_STRATEGIES, *CONTEXT_STRATEGIES[:2]]
    first = prompts[0]
    assert isinstance(first, CandidatePrompt)
    assert (first.question_id, first.table_name, first.columns) == ("q1", "regions", ("status",))
    assert first.prompt.system == "You translate questions into one DuckDB SQL query. Answer with the SQL only."
    assert first.prompt.user == (
        schema_context(_catalog(), "regions", ["status"]) + "\n\nQuestion: How many regions are in preview?\nSQL:"
    )
    assert prompts[2].columns == ("region_id", "status", "launch_date")
    assert not any(p.context_truncated for p in prompts)


@pytest.mark.parametrize(("dialect", "name"), [("mysql", "MySQL"), ("postgres", "Postgres"), ("nosuch", "nosuch")])
def test_system_prompt_names_the_dialect(dialect: str, name: str) -> None:
    questions = _questions(("q1", "Which regions are active?", "regions", ["status"]))
    (prompt,) = build_candidate_prompts(questions, _catalog(), k=1, seed=0, dialect=dialect)
    assert prompt.prompt.system == f"You translate questions into one {name} SQL query. Answer with the SQL only."


def test_prompts_are_deterministic_and_seeded() -> None:
    questions = _questions(
        ("q1", "Which hosts have metric 3 above 1?", "hosts", ["metric_3"]),
        ("q2", "List the host ids.", "hosts", ["host_id"]),
    )
    kwargs = {"k": 6, "dialect": "duckdb", "max_context_chars": 10_000}
    once = build_candidate_prompts(questions, _catalog(), seed=7, **kwargs)
    assert once == build_candidate_prompts(questions, _catalog(), seed=7, **kwargs)
    other = build_candidate_prompts(questions, _catalog(), seed=8, **kwargs)
    random_choices = [p.columns for p in once if p.strategy == "involved_plus_random"]
    assert random_choices != [p.columns for p in other if p.strategy == "involved_plus_random"]
    assert len(set(random_choices)) == len(random_choices)  # variants of one question differ too


def test_involved_plus_random_adds_half_of_the_other_columns_in_catalog_order() -> None:
    questions = _questions(("q1", "Which hosts have metric 3 above 1?", "hosts", ["metric_3"]))
    prompts = build_candidate_prompts(questions, _catalog(), k=2, seed=1, dialect="duckdb", max_context_chars=10_000)
    columns = prompts[1].columns
    assert "metric_3" in columns
    assert len(columns) == 1 + 7  # half of the 14 other columns
    assert list(columns) == [name for name in HOSTS_COLUMNS if name in columns]


@pytest.mark.parametrize("involved", [[], None, ["not_a_column"]])
def test_involved_only_falls_back_to_the_whole_table(involved: list[str] | None) -> None:
    questions = _questions(("q1", "Tell me about regions.", "regions", involved))
    (prompt,) = build_candidate_prompts(questions, _catalog(), k=1, seed=0, dialect="duckdb")
    assert prompt.columns == ("region_id", "status", "launch_date")


def test_a_long_context_drops_other_columns_from_the_end_and_keeps_the_involved() -> None:
    questions = _questions(("q1", "Which hosts have metric 14 above 1?", "hosts", ["host_id", "metric_14"]))
    limit = 400
    prompts = build_candidate_prompts(questions, _catalog(), k=3, seed=0, dialect="duckdb", max_context_chars=limit)
    involved_only, _, full = prompts
    assert not involved_only.context_truncated
    assert full.context_truncated
    assert full.columns[0] == "host_id" and full.columns[-1] == "metric_14"
    assert full.columns[1:-1] == tuple(f"metric_{n}" for n in range(1, len(full.columns) - 1))
    context = full.prompt.user.split("\n\nQuestion:")[0]
    assert len(context) <= limit
    assert context == schema_context(_catalog(), "hosts", full.columns)


def test_a_context_still_too_long_is_cut_hard() -> None:
    questions = _questions(("q1", "Which hosts have metric 14 above 1?", "hosts", ["host_id", "metric_14"]))
    (prompt,) = build_candidate_prompts(questions, _catalog(), k=1, seed=0, dialect="duckdb", max_context_chars=60)
    assert prompt.context_truncated
    assert prompt.columns == ("host_id", "metric_14")
    assert prompt.prompt.user == schema_context(_catalog(), "hosts", ["host_id", "metric_14"])[:60] + (
        "\n\nQuestion: Which hosts have metric 14 above 1?\nSQL:"
    )


def test_no_questions_give_no_prompts() -> None:
    assert build_candidate_prompts(_questions(), _catalog(), k=3, seed=0, dialect="duckdb") == []


# --------------------------------------------------------------------------------------------------- extract_sql

Q = "SELECT region_id FROM regions WHERE status = 'preview'"

EXTRACT_SQL = [
    # fenced blocks
    (f"```sql\n{Q};\n```", Q),
    (f"```SQL\n{Q}\n```\nThis query lists the preview regions.", Q),
    (f"```\n{Q}\n```", Q),
    (f"```sql\n{Q}", Q),  # unclosed fence
    (f"Sure! ```sql {Q}``` Hope it helps.", Q),
    (f"Here is the SQL query with a filter:\n```sql\n{Q}\n```", Q),
    ("```text\nno sql here\n```\nSELECT 1 AS one", "SELECT 1 AS one"),
    # labels and chatter
    (f"SQL: {Q}", Q),
    (f"Answer: {Q.lower()};", Q.lower()),
    (f"Query:\n{Q}", Q),
    (f"Here is the query:\n\n{Q}", Q),
    ("Select all the regions:\nSELECT * FROM regions", "SELECT * FROM regions"),
    # trailing prose, several statements, semicolons
    (f"{Q}\n\nThis query returns the regions in preview.", Q),
    (f"{Q}. This query returns the regions in preview.", Q),
    (f"{Q}; SELECT 2;", Q),
    ("SELECT * FROM t WHERE note = 'a; b'; DROP TABLE t", "SELECT * FROM t WHERE note = 'a; b'"),
    ("SELECT a\nFROM t\nWHERE b > 1\nORDER BY a;\n\nExplanation: sorted.", "SELECT a\nFROM t\nWHERE b > 1\nORDER BY a"),
    # CTEs, set operations
    (
        "WITH big AS (\n  SELECT region_id FROM zones\n)\n\nSELECT * FROM big;\nDone.",
        "WITH big AS (\n  SELECT region_id FROM zones\n)\n\nSELECT * FROM big",
    ),
    ("SELECT a FROM t UNION SELECT b FROM u", "SELECT a FROM t UNION SELECT b FROM u"),
    # inline backticks
    (f"`{Q}`", Q),
    (f"Use `{Q}` to list them.", Q),
    # nothing to extract
    ("", None),
    ("   \n ", None),
    ("I am sorry, I cannot answer that.", None),
    ("Select the regions that are in preview.", None),
    ("SELECT", None),
    ("DROP TABLE regions", None),
    ("with " * 2000, None),
    ("```sql\n```", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_SQL)
def test_extract_sql(text: str, expected: str | None) -> None:
    assert extract_sql(text) == expected


@pytest.mark.parametrize(
    ("text", "dialect", "expected"),
    [
        ("SELECT `name` FROM `t`", "mysql", "SELECT `name` FROM `t`"),
        ("`SELECT `name` FROM t`", "mysql", "SELECT `name` FROM t"),
        ('SELECT "name" FROM t;', "postgres", 'SELECT "name" FROM t'),
        ("SQL: SELECT 1 AS x", "no_such_dialect", "SELECT 1 AS x"),
    ],
)
def test_extract_sql_in_a_dialect(text: str, dialect: str, expected: str) -> None:
    assert extract_sql(text, dialect) == expected


@pytest.mark.parametrize("text", [None, 42, b"SELECT 1"])
def test_extract_sql_never_raises_on_non_text(text: object) -> None:
    assert extract_sql(text) is None  # type: ignore[arg-type]


def test_sql_examples_prefer_the_same_table() -> None:
    domain = load_domain(Path(__file__).resolve().parents[1] / "project_data")
    examples = sql_examples(domain.samples, domain.catalog, "duckdb")
    assert set(examples) == set(domain.catalog["table_name"].unique().to_list())
    for user, sql in examples["hosts"]:
        assert user.startswith("Table hosts:") and "FROM hosts" in sql
    assert all(len(turns) == 2 for turns in examples.values())
