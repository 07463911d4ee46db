"""Contract of the bundled demo domain in project_data/: sizes, consistency, executable references, determinism."""

import json
import re
import subprocess
import sys
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
import sqlglot
from sqlglot import exp

from asasql_resources.domain import load_domain
from asasql_resources.sandbox import SqlSandbox
from project_data.build import sql_shape

DOMAIN = Path(__file__).resolve().parent.parent / "project_data"
CATEGORIES = {"filter", "aggregate", "group_by", "join", "order_limit", "date", "fuzzy"}
# The unseen split adds categories that no question family of the gold bank has.
UNSEEN_CATEGORIES = CATEGORIES | {"ratio", "nested", "case", "null"}
DIALECT = "duckdb"
# An unseen question this close to a gold, sample or seen test question (difflib ratio of the normalised texts,
# or Jaccard overlap of their words) counts as a paraphrase of it.
MAX_TEXT_SIMILARITY = 0.75
MAX_WORD_OVERLAP = 0.6
SCHEMA_HEADER = ["table_name", "column_name", "column_name_zh", "description", "reason", "possible_value"]
JSON_FILES = ("data_sample.json", "gold_bank.json", "test_set.json")


def _sheet(workbook: openpyxl.Workbook, name: str) -> list[dict[str, Any]]:
    """The rows of a sheet as dicts keyed by its header."""
    header, *rows = workbook[name].iter_rows(values_only=True)
    return [dict(zip(header, row, strict=False)) for row in rows]


def _load(name: str) -> Any:
    """A JSON file of the demo domain."""
    return json.loads((DOMAIN / name).read_text(encoding="utf-8"))


def _normalise(question: str) -> str:
    """A question compared for overlap: lowercase, single spaces, no trailing punctuation."""
    return re.sub(r"\s+", " ", question.lower()).strip().rstrip(".?!").strip()


def _words(question: str) -> set[str]:
    """The words of a normalised question."""
    return set(re.findall(r"[a-z0-9_.-]+", _normalise(question)))


def _split(name: str) -> list[dict[str, Any]]:
    """The test items of one split."""
    return [i for i in _load("test_set.json") if i["split"] == name]


def _table_contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a DuckDB file, rows sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        return {n: con.execute(f"SELECT * FROM {n} ORDER BY ALL").fetchall() for n in names}


@pytest.fixture(scope="module")
def workbook() -> openpyxl.Workbook:
    """The description workbook."""
    return openpyxl.load_workbook(DOMAIN / "description_full.xlsx")


@pytest.fixture(scope="module")
def schema(workbook: openpyxl.Workbook) -> list[dict[str, Any]]:
    """The rows of the schema sheet."""
    return _sheet(workbook, "schema")


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """A read-only connection to database.duckdb."""
    connection = duckdb.connect(str(DOMAIN / "database.duckdb"), read_only=True)
    yield connection
    connection.close()


def test_workbook_sheets_and_headers(workbook: openpyxl.Workbook) -> None:
    """The workbook has exactly the schema, meta and concept sheets, with the required headers."""
    assert workbook.sheetnames == ["schema", "meta", "concept"]
    header = [cell.value for cell in workbook["schema"][1]]
    assert header[: len(SCHEMA_HEADER)] == SCHEMA_HEADER
    assert "data_type" in header
    assert [cell.value for cell in workbook["meta"][1]] == ["table", "description"]
    assert [cell.value for cell in workbook["concept"][1]] == ["entity", "description"]


def test_schema_size_and_documentation(schema: list[dict[str, Any]]) -> None:
    """At least 6 tables and 60 columns, each with a Chinese name, description, reason and JSON possible values."""
    assert len({r["table_name"] for r in schema}) >= 6
    assert len(schema) >= 60
    for row in schema:
        where = f"{row['table_name']}.{row['column_name']}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", row["column_name"]), where
        assert re.search(r"[\u4e00-\u9fff]", row["column_name_zh"] or ""), where
        assert (row["description"] or "").strip() and (row["reason"] or "").strip(), where
        assert not re.search(r"[;()]", row["column_name_zh"] + row["description"]), where
        values = json.loads(row["possible_value"])
        assert isinstance(values, list) and values, where


def test_meta_and_concepts(workbook: openpyxl.Workbook, schema: list[dict[str, Any]]) -> None:
    """Every table has one described meta row, and there are at least 10 described concepts."""
    meta = _sheet(workbook, "meta")
    assert sorted(r["table"] for r in meta) == sorted({r["table_name"] for r in schema})
    assert all((r["description"] or "").strip() for r in meta)
    concepts = _sheet(workbook, "concept")
    assert len(concepts) >= 10
    assert all((r["entity"] or "").strip() and (r["description"] or "").strip() for r in concepts)


def test_schema_matches_database(schema: list[dict[str, Any]], con: duckdb.DuckDBPyConnection) -> None:
    """The schema sheet lists exactly the database's tables and columns, with their DuckDB types."""
    in_db = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY ALL"
    ).fetchall()
    in_sheet = sorted((r["table_name"], r["column_name"], r["data_type"]) for r in schema)
    assert in_sheet == in_db


def test_possible_values_match_data(schema: list[dict[str, Any]], con: duckdb.DuckDBPyConnection) -> None:
    """Every listed value occurs in its column, and columns with few distinct values list them all."""
    for row in schema:
        table, column, values = row["table_name"], row["column_name"], json.loads(row["possible_value"])
        for value in values:
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            found = con.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {column} = CAST(? AS {row['data_type']})", [text]
            ).fetchall()
            assert found[0][0] > 0, f"{table}.{column}: {value!r} not in data"
        distinct = con.execute(f"SELECT COUNT(DISTINCT {column}) FROM {table}").fetchall()[0][0]
        if distinct <= len(values):
            assert distinct == len(values), f"{table}.{column} lists {values}, data has {distinct} values"


def test_database_rows(con: duckdb.DuckDBPyConnection) -> None:
    """The database holds at least 2,000 rows, with every table filled."""
    tables = [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchall()[0][0] for t in tables}
    assert all(counts.values()), counts
    assert sum(counts.values()) >= 2000


def test_samples() -> None:
    """40+ labeled samples in the documented layout, 25%+ negative, and every positive SQL executes."""
    samples = _load("data_sample.json")
    assert len(samples) >= 40
    assert all(set(s) == {"origin_query", "sql", "table_name", "table", "column", "label"} for s in samples)
    assert all(isinstance(s["label"], bool) for s in samples)
    assert sum(not s["label"] for s in samples) >= 0.25 * len(samples)
    for s in samples:
        names = s["table_name"].split(",")
        assert [line.split(";")[0] for line in s["table"].split("\n")] == [f"({n}" for n in names]
        for line in s["column"].split("\n"):
            assert re.fullmatch(r"\([a-z_0-9]+;[^;]+;[^;]+;\[.*\]\)", line), line
    with duckdb.connect(str(DOMAIN / "database.duckdb"), read_only=True) as con:
        for s in samples:
            if s["label"]:
                con.execute(s["sql"]).fetchall()


def test_bank_and_test_set_sizes() -> None:
    """150+ gold pairs and 60+ seen test pairs, both covering every family category, the seen split 6+ per one."""
    gold, seen = _load("gold_bank.json"), _split("seen")
    assert len(gold) >= 150 and len(seen) >= 60
    for items in (gold, seen):
        assert all({"question", "sql", "category"} <= set(i) for i in items)
        assert {i["category"] for i in items} == CATEGORIES
    assert min(Counter(i["category"] for i in seen).values()) >= 6


def test_every_test_item_has_a_split() -> None:
    """Every test item is in the seen or the unseen split, and only test items carry a split."""
    test = _load("test_set.json")
    assert all(i.get("split") in ("seen", "unseen") for i in test)
    assert not any("split" in i for i in _load("gold_bank.json"))


def test_unseen_split_size_and_categories() -> None:
    """60+ unseen items with a category each, 3+ per category, covering the categories no family has."""
    unseen = _split("unseen")
    assert len(unseen) >= 60
    counts = Counter(i.get("category") for i in unseen)
    assert set(counts) <= UNSEEN_CATEGORIES and UNSEEN_CATEGORIES - CATEGORIES <= set(counts), counts
    assert min(counts.values()) >= 3, counts


def test_unseen_questions_are_new() -> None:
    """No unseen question equals, after normalising, or closely paraphrases a gold, sample or seen test question."""
    others = [i["question"] for i in _load("gold_bank.json") + _split("seen")]
    others += [s["origin_query"] for s in _load("data_sample.json")]
    known = {_normalise(q) for q in others}
    for item in _split("unseen"):
        question = _normalise(item["question"])
        assert question not in known, item["question"]
        for other in others:
            matcher = SequenceMatcher(None, question, _normalise(other))
            # quick_ratio bounds ratio from above: the exact ratio is computed only when it could be too high.
            assert matcher.quick_ratio() < MAX_TEXT_SIMILARITY or matcher.ratio() < MAX_TEXT_SIMILARITY, (
                item["question"],
                other,
            )
            words = len(_words(question) & _words(other)) / len(_words(question) | _words(other))
            assert words < MAX_WORD_OVERLAP, (item["question"], other)


def test_unseen_sql_shapes_are_new() -> None:
    """No unseen SQL is a gold-bank, sample or seen-test SQL template with other values (literals masked)."""
    gold = _load("gold_bank.json")
    known = {sql_shape(i["sql"]) for i in gold + _split("seen")} | {
        sql_shape(s["sql"]) for s in _load("data_sample.json")
    }
    # The masking does collapse a template's renders: the gold bank has far fewer shapes than items.
    assert len({sql_shape(i["sql"]) for i in gold}) <= len(gold) // 3
    for item in _split("unseen"):
        assert sql_shape(item["sql"]) not in known, item["sql"]


def test_unseen_sql_runs_and_is_unambiguous(con: duckdb.DuckDBPyConnection) -> None:
    """Every unseen gold SQL parses in the domain's dialect and returns rows, not a lone 0 or NULL; an ordered
    answer does not depend on tie-breaking: its first ORDER BY key is distinct over the rows, and at a LIMIT's cut-off."""
    for item in _split("unseen"):
        tree = sqlglot.parse_one(item["sql"], read=DIALECT)
        rows = con.execute(item["sql"]).fetchall()
        assert rows and rows not in ([(0,)], [(None,)]), item["sql"]
        if (order := tree.args.get("order")) is None:
            continue
        names = [e.alias_or_name for e in tree.expressions]
        first = order.expressions[0].this
        if isinstance(first, exp.Column) and not first.table and first.name in names:
            key, probe = names.index(first.name), tree.copy()
        else:
            key, probe = len(names), tree.copy().select(first.copy().as_("order_key"))
        if (limit := tree.args.get("limit")) is not None:
            probe = probe.limit(int(limit.expression.name) + 1)
        keys = [row[key] for row in con.execute(probe.sql(dialect=DIALECT)).fetchall()]
        assert len(set(keys)) == len(keys), (item["question"], keys)


def test_no_question_shared() -> None:
    """No question appears twice within or across the gold bank, the test set and the samples."""
    questions = [i["question"] for i in _load("gold_bank.json") + _load("test_set.json")]
    questions += [s["origin_query"] for s in _load("data_sample.json")]
    repeated = [q for q, n in Counter(map(_normalise, questions)).items() if n > 1]
    assert not repeated


def test_reference_sql_returns_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Every gold and test SQL is one SELECT/WITH statement that returns rows, and no scalar answer is 0 or NULL."""
    for item in _load("gold_bank.json") + _load("test_set.json"):
        sql = item["sql"]
        assert re.match(r"(SELECT|WITH)\b", sql, re.IGNORECASE) and ";" not in sql, sql
        rows = con.execute(sql).fetchall()
        assert rows, sql
        assert rows not in ([(0,)], [(None,)]), sql


def test_test_set_runs_in_the_sandbox() -> None:
    """Every test SQL, both splits, runs where the evaluation runs it: the SQL sandbox on the loaded domain."""
    domain = load_domain(DOMAIN)
    with SqlSandbox().session(domain.database_path, domain.catalog) as session:
        for item in _load("test_set.json"):
            result = session.execute(item["sql"], DIALECT)
            assert result.ok and result.rows and not result.truncated, (item["sql"], result.error)


def test_domain_yaml() -> None:
    """domain.yaml names the domain and sets the DuckDB dialect and English."""
    lines = (DOMAIN / "domain.yaml").read_text(encoding="utf-8").splitlines()
    assert "sql_dialect: duckdb" in lines and "language: en" in lines
    assert any(line.startswith("name: ") for line in lines)
    assert any(line.startswith("description:") for line in lines)


def test_build_is_deterministic(tmp_path: Path) -> None:
    """Building into a fresh folder reproduces the committed files and database contents."""
    subprocess.run([sys.executable, "-m", "project_data.build", str(tmp_path)], cwd=DOMAIN.parent, check=True)
    for name in (*JSON_FILES, "domain.yaml", "description_full.xlsx"):
        assert (tmp_path / name).read_bytes() == (DOMAIN / name).read_bytes(), name
    assert _table_contents(tmp_path / "database.duckdb") == _table_contents(DOMAIN / "database.duckdb")
