"""`asasql run` end to end on a second domain (a school, Postgres SQL, synthesized database) with tiny models."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from asasql_resources.warehouse import Home, connect_readonly
from tests.second_domain import COLUMNS, SAMPLES, TEST_SET, write_school

ASASQL = str(Path(sys.executable).with_name("asasql"))
POSITIVE_SAMPLES = 4  # labeled True, "correct", 1 and "true" in tests/second_domain.py
K_CANDIDATES = 3  # nl2sql_candidates' default k


@pytest.fixture(scope="module")
def school_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> tuple[subprocess.CompletedProcess[str], Home]:
    """One `asasql run --rounds 1 --annotator reference` on the school domain; the result and its home."""
    root = tmp_path_factory.mktemp("school")
    domain, home = write_school(root / "school"), root / "home"
    env = {
        **os.environ,
        "ASASQL_CHAT_MODEL": str(tiny_model),
        "ASASQL_REWARD_BASE": str(tiny_model),
        "ASASQL_NL2SQL_BASE": str(tiny_model),
        # One torch thread: the tiny model's small matrices run over twice as fast with one on a busy machine.
        "OMP_NUM_THREADS": "1",
    }
    for name in ("DAGSTER_HOME", "ASASQL_HOME", "ASASQL_DOMAIN", "ASASQL_ANNOTATOR"):
        env.pop(name, None)
    args = ["run", "--domain", str(domain), "--rounds", "1", "--annotator", "reference", "--home", str(home)]
    result = subprocess.run([ASASQL, *args], capture_output=True, text=True, env=env, timeout=900)
    return result, Home(home)


@pytest.fixture()
def warehouse(school_run: tuple[subprocess.CompletedProcess[str], Home]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the run's warehouse."""
    result, home = school_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    con = connect_readonly(home)
    yield con
    con.close()


def test_the_run_exits_0_and_ends_with_stage_3(school_run: tuple[subprocess.CompletedProcess[str], Home]) -> None:
    result, _ = school_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The tiny random chat model writes no SQL, so round_0 has nothing to select; Stage 3 still runs.
    assert "stopped: round_0: the pool has no unlabeled, selectable candidates left; then Stage 3 ran" in result.stdout
    assert "execution accuracy on the test set" in result.stdout


def test_every_asset_of_the_run_is_in_the_warehouse(warehouse: duckdb.DuckDBPyConnection) -> None:
    rows = dict(
        warehouse.execute(
            "SELECT asset || coalesce('[' || partition || ']', ''), rows FROM _materializations"
        ).fetchall()
    )
    gold_questions = 8
    assert rows["schema_catalog"] == sum(len(columns) for columns in COLUMNS.values())
    assert rows["schema_catalog__samples"] == len(SAMPLES)
    assert rows["schema_catalog__concepts"] == 2
    assert "forward_queries" in rows
    assert rows["nl2sql_candidates"] >= gold_questions * K_CANDIDATES
    assert rows["extracted_columns"] == rows["nl2sql_candidates"]
    assert rows["reward_model[round_0]"] == 1
    assert {"reward_scores[round_0]", "clusters[round_0]"} <= set(rows)
    assert rows["filtered_dataset"] > POSITIVE_SAMPLES
    assert rows["nl2sql_model"] == 1
    # base, fine_tuned, labeled_only and adopted; one split (all) for a test set without splits
    assert rows["nl2sql_evaluation"] == 4 * (1 + len({pair["category"] for pair in TEST_SET}))


def test_the_catalog_and_the_models_are_the_school_s(warehouse: duckdb.DuckDBPyConnection) -> None:
    tables = {name for (name,) in warehouse.execute("SELECT DISTINCT table_name FROM schema_catalog").fetchall()}
    assert tables == set(COLUMNS)
    assert warehouse.execute("SELECT round, n_train FROM reward_model").fetchall() == [(0, len(SAMPLES))]
    sources = dict(warehouse.execute("SELECT source, count(*) FROM filtered_dataset GROUP BY 1").fetchall())
    assert sources["data_sample"] == POSITIVE_SAMPLES
    assert sources["value_swap"] > 0, "value swaps draw on the school's possible values"
    test_questions = [pair["question"] for pair in TEST_SET]
    assert warehouse.execute(
        "SELECT count(*) FROM filtered_dataset WHERE list_contains(?, question)", [test_questions]
    ).fetchone() == (0,)


def test_every_test_question_is_evaluated_on_the_synthesized_database(warehouse: duckdb.DuckDBPyConnection) -> None:
    figures = warehouse.execute(
        "SELECT model, category, n, skipped_gold FROM nl2sql_evaluation WHERE split = 'all' ORDER BY model, category"
    ).fetchall()
    categories = sorted({"all", *(pair["category"] for pair in TEST_SET)})
    assert [(model, category) for model, category, _, _ in figures] == [
        (model, category) for model in ("adopted", "base", "fine_tuned", "labeled_only") for category in categories
    ]
    # Every gold SQL, written in Postgres, ran on the database synthesized from the catalog (joins included).
    assert {(category, n, skipped) for _, category, n, skipped in figures if category == "all"} == {
        ("all", len(TEST_SET), 0)
    }
