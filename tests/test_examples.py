"""The example bank of the NL2SQL prompt, with the bundled embedder: nearest pairs, never the pair itself."""

import polars as pl
import pytest

from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.examples import ExampleBank, train_examples
from asasql_resources.nl2sql.prompt import nl2sql_prompt

PAIRS = pl.DataFrame(
    {
        "question": [
            "How many running instances are there?",
            "List the hosts in zone us-east-1a.",
            "How many stopped instances are there?",
            "Total invoice amount for May 2026",
        ],
        "sql": [
            "SELECT count(*) FROM instances WHERE status = 'running'",
            "SELECT host_id FROM hosts WHERE zone_id = 'us-east-1a'",
            "SELECT count(*) FROM instances WHERE status = 'stopped'",
            "SELECT sum(total_amount) FROM invoices",
        ],
    }
)


@pytest.fixture(scope="module")
def bank() -> ExampleBank:
    """The four pairs, embedded with all-MiniLM-L6-v2."""
    return ExampleBank(PAIRS, Embedder())


def test_the_nearest_pair_is_the_similar_question(bank: ExampleBank) -> None:
    ((question, sql),) = bank.nearest(["How many terminated instances are there?"])
    assert "instances" in question and sql.startswith("SELECT count(*) FROM instances")
    assert bank.nearest(["Which hosts are in us-east-1a?"])[0][1] == PAIRS["sql"][1]


def test_training_prompts_show_the_nearest_other_pair(bank: ExampleBank) -> None:
    shown = train_examples(bank)
    assert [example[0] for example in shown[:3:2]] == [PAIRS["question"][2], PAIRS["question"][0]]
    assert all(example[0] != question for example, question in zip(shown, PAIRS["question"], strict=True))
    prompt = nl2sql_prompt("t(a)", PAIRS["question"][0], "duckdb", shown[0])
    assert prompt.user.index("A similar question") < prompt.user.index(f"Question: {PAIRS['question'][0]}")


def test_an_empty_bank_shows_nothing() -> None:
    assert ExampleBank(PAIRS.head(0), Embedder()).nearest(["anything"]) == [None]
    assert train_examples(ExampleBank(PAIRS.head(1), Embedder())) == [None]
