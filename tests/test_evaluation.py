"""Tests of evaluation: the shared prompt and schema context, greedy prediction, execution accuracy and its summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from asasql_assets.evaluation.accuracy import execution_accuracy, summarize
from asasql_resources.domain.loader import load_domain
from asasql_resources.nl2sql import predict as accuracy
from asasql_resources.nl2sql.finetune import fit_prompt
from asasql_resources.nl2sql.predict import predict_sql
from asasql_resources.nl2sql.prompt import domain_schema_context, nl2sql_prompt, schema_context, sql_request
from asasql_resources.sandbox import SandboxSession
from tests.domain_factory import CATALOG_SCHEMA

ITEMS_SCHEMA = {"question": pl.String(), "gold_sql": pl.String(), "category": pl.String()}


def catalog() -> pl.DataFrame:
    """Two tables: regions (3 columns) and hosts (12 columns), each with a description."""
    rows = [
        (
            "regions",
            "region_id",
            "区域ID",
            "Region code.",
            ["us-east-1", "eu-west-1"],
            "VARCHAR",
            "One row per region.",
        ),
        ("regions", "status", "状态", "State of the region.", ["active", "preview"], "VARCHAR", "One row per region."),
        ("regions", "launch_date", "开服日期", "Date the region opened.", [], "DATE", "One row per region."),
    ]
    rows += [
        ("hosts", f"metric_{n}", f"指标{n}", f"Metric number {n}.", ["0", "1"], "DOUBLE", "One row per host.")
        for n in range(12)
    ]
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA, orient="row")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_prompt_asks_for_one_query_in_the_dialect() -> None:
    prompt = nl2sql_prompt("t(a, b)", "How many t?", "mysql")
    assert prompt.system == "You translate questions into one MySQL SQL query. Answer with the SQL only."
    assert prompt.user == sql_request("t(a, b)", "How many t?") == "t(a, b)\n\nQuestion: How many t?\nSQL:"
    assert prompt.examples == ()


def test_a_schema_that_fits_is_shown_in_full() -> None:
    context = domain_schema_context(catalog(), ["regions"], max_chars=1000)
    assert context == schema_context(catalog(), "regions", ["region_id", "status", "launch_date"])


def test_a_large_schema_is_one_line_per_table_with_descriptions_while_they_fit() -> None:
    hosts = "hosts(" + ", ".join(f"metric_{n}" for n in range(12)) + ")"
    lines = ["regions(region_id, status, launch_date)", hosts]
    assert domain_schema_context(catalog(), max_chars=300) == (
        f"{lines[0]} -- One row per region.\n{lines[1]} -- One row per host."
    )
    tight = len("\n".join(lines)) + len(" -- One row per region.")
    assert domain_schema_context(catalog(), max_chars=tight) == f"{lines[0]} -- One row per region.\n{lines[1]}"
    assert domain_schema_context(catalog(), ["hosts", "regions"], max_chars=300).startswith("hosts(metric_0")


def test_the_schema_context_keeps_within_max_chars() -> None:
    assert domain_schema_context(catalog(), max_chars=50) == "regions(region_id, status, launch_date)"
    assert domain_schema_context(catalog(), max_chars=10) == "regions(re"


def test_an_unknown_table_is_named() -> None:
    with pytest.raises(ValueError, match="'nowhere'"):
        domain_schema_context(catalog(), ["regions", "nowhere"])


def test_the_demo_schema_fits_the_default_budget() -> None:
    demo = load_domain(Path(__file__).parents[1] / "project_data").catalog
    context = domain_schema_context(demo)
    assert len(context) <= 1500
    assert all(f"{table}(" in context for table in demo["table_name"].unique())


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> PreTrainedTokenizerBase:
    """SmolLM2's tokenizer and chat template."""
    return AutoTokenizer.from_pretrained(tiny_model)


def prompts() -> list:
    """Prompts of different lengths, not in length order."""
    questions = ["How many regions are active?", "Hi?", "List every region launched in 2024 with its status please"]
    return [nl2sql_prompt("regions(region_id, status)", question, "duckdb") for question in questions]


def test_predictions_come_back_one_per_prompt_in_order(
    tokenizer: PreTrainedTokenizerBase, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []

    def fake_decode(model: object, batch: list[list[int]], *args: object, **kwargs: object) -> list[list[int]]:
        batches.append(len(batch))
        answers = [f"Sure: SELECT {len(ids)} AS n" if len(ids) % 2 else "no idea" for ids in batch]
        return [tokenizer(answer, add_special_tokens=False)["input_ids"] for answer in answers]

    monkeypatch.setattr(accuracy, "decode", fake_decode)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).train()
    lengths = [len(fit_prompt(tokenizer, prompt, 2048 - 8)) for prompt in prompts()]
    predicted = predict_sql(model, tokenizer, prompts(), dialect="duckdb", max_new_tokens=8, batch_size=2)
    assert predicted == [f"SELECT {n} AS n" if n % 2 else None for n in lengths]
    assert batches == [2, 1] and model.training


def test_batched_greedy_prediction_equals_one_at_a_time(tokenizer: PreTrainedTokenizerBase, tiny_model: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    progress: list[tuple[int, int]] = []
    batched = predict_sql(
        model,
        tokenizer,
        prompts(),
        dialect="duckdb",
        max_new_tokens=6,
        batch_size=2,
        progress=lambda done, total: progress.append((done, total)),
    )
    alone = [predict_sql(model, tokenizer, [p], dialect="duckdb", max_new_tokens=6)[0] for p in prompts()]
    assert batched == alone and len(batched) == 3
    assert progress == [(2, 3), (3, 3)]


@pytest.fixture
def session() -> Iterator[SandboxSession]:
    """A sandbox on a hand-built table t(a, b) with rows (1, x), (2, y), (3, y)."""
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'x'), (2, 'y'), (3, 'y')) v(a, b)")
    with SandboxSession(con) as opened:
        yield opened


CASES = [
    # question, gold, category, prediction, expected (parse_ok, exec_ok, match, skipped_gold)
    (
        "same rows, other names",
        "SELECT a FROM t WHERE b = 'y'",
        "filter",
        "SELECT a AS n FROM t WHERE a > 1",
        (True, True, True, False),
    ),
    ("other rows", "SELECT a FROM t WHERE b = 'y'", "filter", "SELECT a FROM t", (True, True, False, False)),
    ("no SQL", "SELECT count(*) FROM t", "aggregate", None, (False, False, False, False)),
    ("prose", "SELECT count(*) FROM t", "aggregate", "I cannot answer that.", (False, False, False, False)),
    ("unknown column", "SELECT count(*) FROM t", "aggregate", "SELECT nope FROM t", (True, False, False, False)),
    (
        "order matters",
        "SELECT a FROM t ORDER BY a DESC",
        "order",
        "SELECT a FROM t ORDER BY a",
        (True, True, False, False),
    ),
    ("order ignored", "SELECT a FROM t", "order", "SELECT a FROM t ORDER BY a DESC", (True, True, True, False)),
    ("gold fails", "SELECT missing FROM t", "aggregate", "SELECT 1", (True, None, None, True)),
]


def test_execution_accuracy_judges_each_item(session: SandboxSession) -> None:
    items = pl.DataFrame([case[:3] for case in CASES], schema=ITEMS_SCHEMA, orient="row")
    per_item = execution_accuracy(items, [case[3] for case in CASES], session, "duckdb")
    judged = per_item.select("parse_ok", "exec_ok", "match", "skipped_gold").rows()
    assert judged == [case[4] for case in CASES]
    assert per_item["question"].to_list() == [case[0] for case in CASES]
    errors = dict(zip(per_item["question"], per_item["error"], strict=True))
    assert errors["gold fails"].startswith("gold SQL failed:") and errors["no SQL"] == "no SQL query in the prediction"
    assert "nope" in errors["unknown column"] and errors["same rows, other names"] is None


def test_summary_counts_items_with_working_gold_overall_and_per_category(session: SandboxSession) -> None:
    items = pl.DataFrame([case[:3] for case in CASES], schema=ITEMS_SCHEMA, orient="row")
    summary = summarize(execution_accuracy(items, [case[3] for case in CASES], session, "duckdb"), "base")
    assert summary.columns == ["model", "split", "category", "n", "ex", "parse_rate", "exec_rate", "skipped_gold"]
    assert set(summary["split"]) == {"all"}, "items without a split count in split all only"
    rows = {row["category"]: row for row in summary.iter_rows(named=True)}
    assert summary["category"].to_list() == ["all", "aggregate", "filter", "order"]
    assert set(summary["model"]) == {"base"}
    assert rows["all"] == {
        "model": "base",
        "split": "all",
        "category": "all",
        "n": 7,
        "ex": 2 / 7,
        "parse_rate": 5 / 7,
        "exec_rate": 4 / 7,
        "skipped_gold": 1,
    }
    assert (rows["aggregate"]["n"], rows["aggregate"]["ex"], rows["aggregate"]["skipped_gold"]) == (3, 0.0, 1)
    assert (rows["filter"]["ex"], rows["order"]["ex"]) == (0.5, 0.5)


def test_items_without_categories_and_all_gold_failing(session: SandboxSession) -> None:
    items = pl.DataFrame({"question": ["q"], "gold_sql": ["SELECT missing FROM t"]})
    summary = summarize(execution_accuracy(items, ["SELECT 1"], session, "duckdb"), "m")
    assert summary.rows() == [("m", "all", "all", 0, None, None, None, 1)]


def test_the_summary_reports_each_split_beside_all(session: SandboxSession) -> None:
    items = pl.DataFrame(
        {
            "question": ["a", "b", "c"],
            "gold_sql": ["SELECT 1", "SELECT 2", "SELECT 3"],
            "category": ["x", "x", "y"],
            "split": ["seen", "unseen", "unseen"],
        }
    )
    summary = summarize(execution_accuracy(items, ["SELECT 1", "SELECT 2", "SELECT 4"], session, "duckdb"), "m")
    ex = {(row["split"], row["category"]): row["ex"] for row in summary.iter_rows(named=True)}
    assert ex[("all", "all")] == 2 / 3 and ex[("seen", "all")] == 1.0 and ex[("unseen", "all")] == 0.5
    assert ex[("unseen", "y")] == 0.0 and ("seen", "y") not in ex


def test_one_prediction_per_item_is_required(session: SandboxSession) -> None:
    items = pl.DataFrame({"question": ["q"], "gold_sql": ["SELECT 1"]})
    with pytest.raises(ValueError, match="1 items, 2 predictions"):
        execution_accuracy(items, ["SELECT 1", "SELECT 2"], session, "duckdb")
