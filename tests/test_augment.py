"""Value-swap synthesis on the demo catalog and database: which values swap, and which variants are kept."""

from pathlib import Path

import polars as pl
import pytest

from asasql_assets.finetune.augment import Slot, swap, value_slots, value_swaps
from asasql_assets.finetune.filtering import DATASET_SCHEMA, with_value_swaps
from asasql_resources.domain import load_domain
from asasql_resources.sandbox import SqlSandbox

DEMO = Path(__file__).resolve().parents[1] / "project_data"
FILTER = "SELECT instance_id, instance_name FROM instances WHERE status = 'terminated' AND zone_id = 'ap-southeast-1a'"


@pytest.fixture(scope="module")
def demo():
    """The demo domain and an open sandbox session on its database."""
    loaded = load_domain(DEMO)
    with SqlSandbox().session(loaded.database_path, loaded.catalog) as session:
        yield loaded, session


def test_slots_are_compared_values_named_once_in_the_question(demo) -> None:
    loaded, _ = demo
    slots = value_slots("List the terminated instances in ap-southeast-1a.", FILTER, loaded.catalog, "duckdb")
    assert [slot.value for slot in slots] == ["terminated", "ap-southeast-1a"]
    assert "running" in slots[0].alternatives and "terminated" not in slots[0].alternatives
    assert "active" not in slots[0].alternatives, "the status values of instances, not of regions"
    assert "us-west-2c" in slots[1].alternatives


def test_values_not_in_the_question_twice_named_or_in_a_pattern_are_not_slots(demo) -> None:
    catalog = demo[0].catalog
    assert value_slots("Which instances are gone?", FILTER, catalog, "duckdb") == []
    twice = "Terminated instances: list the terminated ones in ap-southeast-1a."
    assert [s.value for s in value_slots(twice, FILTER, catalog, "duckdb")] == ["ap-southeast-1a"]
    pattern = "SELECT tenant_id FROM tenants WHERE tenant_name ILIKE '%Lumen%'"
    assert value_slots("Customers whose name includes Lumen", pattern, catalog, "duckdb") == []
    assert value_slots("anything", "SELECT FROM WHERE (", catalog, "duckdb") == []


def test_swap_changes_the_question_and_the_literal() -> None:
    question, sql = swap("List the Terminated instances.", FILTER, Slot("terminated", ("running",)), "running")
    assert question == "List the running instances."
    assert "status = 'running'" in sql and "'terminated'" not in sql


def test_variants_are_executed_and_counted(demo) -> None:
    loaded, session = demo
    pairs = pl.DataFrame(
        {"question": ["List the terminated instances in ap-southeast-1a."], "sql": [FILTER], "tag": ["x"]}
    )
    variants, counts = value_swaps(
        pairs, loaded.catalog, "duckdb", lambda sql: session.execute(sql), per_pair=6, seed=0
    )
    assert counts["tried"] == 6 and variants.height == 6 - counts["empty_result"] - counts["exec_error"]
    assert set(variants["swapped_from"].to_list()) == {pairs["question"][0]}
    assert variants["tag"].to_list() == ["x"] * variants.height
    for sql in variants["sql"]:
        assert session.execute(sql).row_count > 0
    again, _ = value_swaps(pairs, loaded.catalog, "duckdb", lambda sql: session.execute(sql), per_pair=6, seed=0)
    assert again.equals(variants), "seeded"


def test_the_dataset_gains_swaps_of_labeled_rows_only_and_never_a_test_question(demo) -> None:
    loaded, session = demo
    test_question = "List the terminated instances in us-east-1a."
    dataset = pl.DataFrame(
        {
            "question": ["List the pending instances in us-east-1a.", "List the running instances in eu-west-1b."],
            "sql": [
                FILTER.replace("terminated", "pending").replace("ap-southeast-1a", "us-east-1a"),
                FILTER.replace("terminated", "running").replace("ap-southeast-1a", "eu-west-1b"),
            ],
            "table_name": ["instances"] * 2,
            "table": [""] * 2,
            "column": [""] * 2,
            "score": [1.0, 0.9],
            "source": ["corrected", "synthetic"],
            "candidate_id": ["a", "b"],
        },
        schema=DATASET_SCHEMA,
    )
    waterfall = pl.DataFrame({"rule": ["candidates"], "dropped": [0], "left": [2]})
    grown, steps = with_value_swaps(
        dataset,
        waterfall,
        loaded.catalog,
        "duckdb",
        lambda sql: session.execute(sql),
        [test_question],
        per_pair=20,
        seed=0,
        keep_empty=False,
    )
    added = grown.filter(pl.col("source") == "value_swap")
    assert added.height > 0 and test_question not in added["question"].to_list()
    assert set(added["candidate_id"].to_list()) == {"a#swap"}
    assert steps["rule"].to_list()[-1] == "value_swaps_added" and steps["left"][-1] == grown.height
    unchanged, same = with_value_swaps(
        dataset,
        waterfall,
        loaded.catalog,
        "duckdb",
        lambda sql: session.execute(sql),
        [],
        per_pair=0,
        seed=0,
        keep_empty=False,
    )
    assert unchanged.equals(dataset) and same.equals(waterfall)
