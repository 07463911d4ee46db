"""Tests of the judge annotator (prompts, verdict parsing, labels from a real tiny model) and the Annotator resource."""

from __future__ import annotations

import getpass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pydantic import ValidationError

from asasql_resources.annotation import Annotator, judge_labels, judge_prompts, parse_verdict
from asasql_resources.models.chat import ChatModel

TOKENS = 8  # the tiny model only chatters; the default length is for real judges
VERDICTS = [
    # (reply, verdict, rationale)
    ("VERDICT: yes\nRATIONALE: It counts the paid orders.", True, "It counts the paid orders."),
    ("VERDICT: no\nRATIONALE: It filters on the wrong status.", False, "It filters on the wrong status."),
    ("verdict: Yes\nrationale: fine", True, "fine"),
    ("VERDICT: NO.", False, ""),
    ("**VERDICT:** yes\n**RATIONALE:** The join is right.", True, "The join is right."),
    ("**Verdict**: No\n\n**Rationale**: Missing GROUP BY.", False, "Missing GROUP BY."),
    ("Verdict - correct\nRationale - ok", True, "ok"),
    ("VERDICT: incorrect\nRATIONALE: wrong table", False, "wrong table"),
    ("VERDICT: true", True, ""),
    ("VERDICT: false", False, ""),
    ("VERDICT：yes\nRATIONALE：全角冒号", True, "全角冒号"),
    (
        "Let me check the query first. It selects the city column.\n\nVERDICT: yes\nRATIONALE: Matches.",
        True,
        "Matches.",
    ),
    ("RATIONALE: The SQL uses the wrong column.\nVERDICT: no", False, "The SQL uses the wrong column."),
    ("VERDICT: yes\nThe filter is right.", True, "The filter is right."),
    ("The filter is right. VERDICT: yes", True, "The filter is right."),
    ("VERDICT: yes|no\nRATIONALE: template", None, "VERDICT: yes|no\nRATIONALE: template"),
    ("VERDICT: yes or no", None, "VERDICT: yes or no"),
    ("I answer with VERDICT: yes/no.\nVERDICT: no\nRATIONALE: wrong", False, "wrong"),
    ("VERDICT: yes\nRATIONALE: looks fine... actually not.\nVERDICT: no", False, "looks fine... actually not."),
    ("Yes, the SQL answers the question.", True, "the SQL answers the question."),
    ("No.", False, ""),
    ("  **no** - it misses the filter", False, "it misses the filter"),
    ("Nothing to say.", None, "Nothing to say."),
    ("Notably, it works.", None, "Notably, it works."),
    ("The answer is yes.", None, "The answer is yes."),
    ("VERDICT: maybe\nRATIONALE: unsure", None, "VERDICT: maybe\nRATIONALE: unsure"),
    ("VERDICT: not sure", None, "VERDICT: not sure"),
    ("VERDICTS: yesterday", None, "VERDICTS: yesterday"),
    ("", None, ""),
    ("   \n", None, ""),
    ("RATIONALE: it is fine", None, "RATIONALE: it is fine"),
]


@pytest.mark.parametrize("reply, verdict, rationale", VERDICTS)
def test_parse_verdict(reply: str, verdict: bool | None, rationale: str) -> None:
    assert parse_verdict(reply) == (verdict, rationale)


def _items() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "candidate_id": ["a", "b", "c"],
            "question": ["How many orders were paid?", "Which cities have customers?", "How many orders were paid?"],
            "sql": [
                "SELECT count(*) FROM orders WHERE status = 'paid'",
                "SELECT DISTINCT city FROM customers",
                "SELECT count(*) FROM orders",
            ],
            "schema_context": [
                "orders(order_id, status, amount)",
                "customers(customer_id, city)",
                "orders(order_id, status, amount)",
            ],
        }
    )


def test_judge_prompts_hold_the_pair_and_the_answer_form() -> None:
    prompts = judge_prompts(_items())
    assert len(prompts) == 3
    for prompt, row in zip(prompts, _items().iter_rows(named=True), strict=True):
        assert row["question"] in prompt.user and row["sql"] in prompt.user and row["schema_context"] in prompt.user
        assert "VERDICT: yes or no" in prompt.user and "RATIONALE:" in prompt.user
        assert prompt.system and not prompt.examples
    assert prompts[0] != prompts[2]


def test_judge_labels_with_a_real_tiny_model(tiny_model: Path, tmp_path: Path) -> None:
    chat = ChatModel(model=str(tiny_model), home=str(tmp_path), dtype="float32")
    labels = judge_labels(_items(), chat, seed=3, max_new_tokens=TOKENS)
    assert labels.schema == pl.Schema(
        {"candidate_id": pl.String, "label": pl.Boolean, "rationale": pl.String, "reason": pl.String}
    )
    assert labels["candidate_id"].to_list() == ["a", "b", "c"]
    calls = chat.client().stats.model_calls
    replies = chat.generate(judge_prompts(_items()), temperature=0.0, max_new_tokens=TOKENS, seed=3)
    assert chat.client().stats.model_calls == calls, "the judge's calls are cached"
    for row, (reply,) in zip(labels.iter_rows(named=True), replies, strict=True):
        label, rationale = parse_verdict(reply)
        assert (row["label"], row["rationale"]) == (label, rationale)
        assert row["reason"] == ("unparseable" if label is None else "judged")
    assert judge_labels(_items().head(0), chat, max_new_tokens=TOKENS).shape == (0, 4)


@pytest.mark.parametrize(
    "kind, annotator_id, expected",
    [
        ("reference", "", "reference"),
        ("judge", "", "Qwen2.5-72B-Instruct"),
        ("workbook", "", getpass.getuser()),
        ("workbook", " alice ", "alice"),
        ("judge", "panel-7", "panel-7"),
    ],
)
def test_annotator_default_id(kind: str, annotator_id: str, expected: str) -> None:
    annotator = Annotator(kind=kind, annotator_id=annotator_id)
    assert annotator.default_id("Qwen2.5-72B-Instruct") == expected


def test_annotator_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValidationError, match="annotator kind 'human'.*choose one of reference, workbook, judge"):
        Annotator(kind="human")
    assert Annotator().kind == "reference"
    assert "strong models" in Annotator.model_fields["kind"].description


def test_annotator_kind_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    @dg.asset
    def kind(annotator: Annotator) -> str:
        return annotator.kind

    monkeypatch.setenv("ASASQL_ANNOTATOR", "judge")
    outcome = dg.materialize([kind], resources={"annotator": Annotator(kind=dg.EnvVar("ASASQL_ANNOTATOR"))})
    assert outcome.output_for_node("kind") == "judge"
    monkeypatch.setenv("ASASQL_ANNOTATOR", "nobody")
    with pytest.raises(dg.DagsterResourceFunctionError) as caught:
        dg.materialize([kind], resources={"annotator": Annotator(kind=dg.EnvVar("ASASQL_ANNOTATOR"))})
    assert "annotator kind 'nobody'" in str(caught.value.__cause__)
