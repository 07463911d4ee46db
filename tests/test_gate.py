"""The do-no-harm gate of nl2sql_model: the held-out split, and the adoption rule on fake answerers."""

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pytest

from asasql_assets.finetune.filtering import DATASET_SCHEMA
from asasql_resources.domain import load_domain
from asasql_resources.domain.leaks import normalise_question
from asasql_resources.nl2sql.examples import Example
from asasql_resources.nl2sql.gate import (
    BASE,
    FINE_TUNED,
    Measured,
    ValidationJudge,
    adopt,
    execution_accuracy,
    hold_out,
    judge,
    sql_template,
    validation_size,
)
from asasql_resources.nl2sql.predict import Predictor
from asasql_resources.nl2sql.training import LABELED_SOURCES
from asasql_resources.sandbox import SandboxSession, SqlSandbox

DEMO = Path(__file__).resolve().parents[1] / "project_data"


def _row(question: str, sql: str, source: str, candidate_id: str | None) -> dict[str, object]:
    return {
        "question": question,
        "sql": sql,
        "table_name": "t",
        "table": "t",
        "column": "c",
        "score": 1.0,
        "source": source,
        "candidate_id": candidate_id,
    }


def _dataset(labeled: int = 10) -> pl.DataFrame:
    """labeled pairs of the three labeled sources, each with a value swap, plus synthetic pairs."""
    rows = []
    for i in range(labeled):
        source = LABELED_SOURCES[i % len(LABELED_SOURCES)]
        sql = f"SELECT name FROM t{i} WHERE zone = 'z{i}'"
        rows.append(_row(f"Names in zone z{i}?", sql, source, f"c{i}"))
        rows.append(_row(f"Names in zone y{i}?", sql.replace(f"'z{i}'", f"'y{i}'"), "value_swap", f"c{i}#swap"))
        rows.append(_row(f"How many rows in t{i}?", f"SELECT count(*) FROM t{i}", "synthetic", f"s{i}"))
    return pl.DataFrame(rows, schema=DATASET_SCHEMA)


@pytest.mark.parametrize(
    ("labeled", "held"), [(0, 0), (1, 0), (2, 1), (5, 2), (7, 3), (8, 4), (20, 4), (30, 6), (200, 40), (900, 40)]
)
def test_the_validation_set_is_a_fifth_within_bounds_or_half_of_a_few(labeled: int, held: int) -> None:
    assert validation_size(labeled) == held


def test_held_out_pairs_their_swaps_and_their_copies_are_never_trained_on() -> None:
    dataset = _dataset()
    question = "Names in zone z{}?"
    split = hold_out(dataset, seed=0)
    assert split.validation.height == 4 and split.validation.columns == ["question", "sql"]
    held = split.validation["question"].to_list()
    numbers = [int(q.removeprefix("Names in zone z").removesuffix("?")) for q in held]
    assert {question.format(i) for i in numbers} == set(held)
    trained = set(split.train["question"].to_list())
    assert not trained & set(held), "no held-out question is trained on"
    assert not trained & {f"Names in zone y{i}?" for i in numbers}, "nor a value swap of one"
    assert {f"How many rows in t{i}?" for i in numbers} <= trained, "the other rows stay"
    assert split.train.height + split.kept_out == dataset.height and split.kept_out == 2 * len(numbers)
    assert hold_out(dataset, seed=0).validation.equals(split.validation), "seeded"
    assert set(split.validation["sql"]) <= set(dataset.filter(pl.col("source").is_in(LABELED_SOURCES))["sql"])
    assert hold_out(dataset, seed=0, enabled=False).train.equals(dataset)


def test_copies_of_a_held_out_pair_without_a_link_are_kept_out_too() -> None:
    dataset = _dataset(2)  # one held out
    split = hold_out(dataset, seed=0)
    ((question, sql),) = split.validation.rows()
    copies = pl.DataFrame(
        [
            _row(question.upper() + "  ", "SELECT 1", "synthetic", "x1"),  # the same question, another SQL
            _row("A paraphrase", sql.replace("SELECT", "select") + ";", "synthetic", "x2"),  # the same SQL
            _row("A swap of unknown origin", sql.replace("'z", "'w"), "value_swap", None),  # its template
            _row("A pair of its template", sql.replace("'z", "'w"), "synthetic", "x3"),  # kept: not a swap
        ],
        schema=DATASET_SCHEMA,
    )
    grown = hold_out(pl.concat([dataset, copies]), seed=0)
    assert grown.validation.equals(split.validation)
    assert "A pair of its template" in grown.train["question"].to_list()
    assert grown.train.height == split.train.height + 1
    assert normalise_question(question) not in {normalise_question(q) for q in grown.train["question"]}
    assert sql_template(sql) == sql_template(sql.replace("'z", "'w"))


def test_a_single_labeled_pair_is_not_held_out() -> None:
    split = hold_out(_dataset(1), seed=0)
    assert split.validation.is_empty() and split.train.height == 3 and split.kept_out == 0


@pytest.mark.parametrize(
    ("base_ex", "tuned_ex", "adopted"),
    [(0.5, 0.75, FINE_TUNED), (0.5, 0.5, FINE_TUNED), (0.0, 0.0, FINE_TUNED), (0.75, 0.5, BASE), (None, 1.0, BASE)],
)
def test_the_adapter_is_adopted_only_when_it_does_at_least_as_well(
    base_ex: float | None, tuned_ex: float | None, adopted: str
) -> None:
    assert adopt(base_ex, tuned_ex) == adopted


def test_the_adopted_model_never_scores_below_the_base() -> None:
    grid = [i / 8 for i in range(9)]
    for base_ex in grid:
        for tuned_ex in grid:
            chosen = {BASE: base_ex, FINE_TUNED: tuned_ex}[adopt(base_ex, tuned_ex)]
            assert chosen >= base_ex


class Fake:
    """A Predictor-like answerer: the gold SQL for the questions it knows, a wrong or no query for the rest."""

    def __init__(self, known: dict[str, str], wrong: str | None = "SELECT 42") -> None:
        self.known, self.wrong = known, wrong
        self.shown: list[Sequence[Example | None] | None] = []
        self.released = False

    def answer(
        self, questions: Sequence[str], *, examples: Sequence[Example | None] | None = None, max_new_tokens: int = 0
    ) -> list[str | None]:
        self.shown.append(examples)
        return [self.known.get(question, self.wrong) for question in questions]

    def release(self) -> None:
        self.released = True


@pytest.fixture(scope="module")
def session() -> Iterator[SandboxSession]:
    domain = load_domain(DEMO)
    with SqlSandbox().session(domain.database_path, domain.catalog) as opened:
        yield opened


def _pairs() -> pl.DataFrame:
    return load_domain(DEMO).gold_bank.head(4).select("question", "sql")


def test_the_gate_refuses_a_worse_adapter_and_adopts_a_better_one(session: SandboxSession) -> None:
    pairs = _pairs()
    gold = dict(pairs.iter_rows())
    three = dict(list(gold.items())[:3])
    shown: list[Example | None] = [("a question", "SELECT 1")] * pairs.height
    good, worse = Fake(gold), Fake(three, wrong=None)

    refused = judge(good, worse, pairs, session, "duckdb", examples=shown)
    assert (refused.adopted, refused.val_ex_base, refused.val_ex_fine_tuned, refused.n_val_ex) == (BASE, 1.0, 0.75, 4)
    assert "below the base's" in refused.reason
    assert good.shown == worse.shown == [shown], "both are shown the same examples"
    assert good.released and worse.released

    adopted = judge(Fake(three), Fake(gold), pairs, session, "duckdb")
    assert (adopted.adopted, adopted.val_ex_base, adopted.val_ex_fine_tuned) == (FINE_TUNED, 0.75, 1.0)
    tie = judge(Fake(three), Fake(three), pairs, session, "duckdb")
    assert tie.adopted == FINE_TUNED, "at least the base's EX is enough"
    for verdict in (refused, adopted, tie):
        chosen = verdict.val_ex_fine_tuned if verdict.adopted == FINE_TUNED else verdict.val_ex_base
        assert chosen >= verdict.val_ex_base


def test_an_adapter_measured_in_training_is_not_decoded_again(session: SandboxSession) -> None:
    pairs = _pairs()
    three = dict(list(dict(pairs.iter_rows()).items())[:3])
    refused = judge(Fake(three), Measured(0.5), pairs, session, "duckdb")
    assert (refused.adopted, refused.val_ex_base, refused.val_ex_fine_tuned, refused.n_val_ex) == (BASE, 0.75, 0.5, 4)
    adopted = judge(Fake(three), Measured(0.75), pairs, session, "duckdb")
    assert adopted.adopted == FINE_TUNED


def test_the_epoch_judge_scores_a_model_as_the_gate_would(session: SandboxSession, tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    pairs = _pairs()
    validation = ValidationJudge(pairs, session, max_new_tokens=16)
    direct = judge(
        Fake({}), Predictor(lambda: (model, tokenizer), "t(a)", "duckdb"), pairs, session, "duckdb", max_new_tokens=16
    )
    assert validation.scorer("t(a)", "duckdb", None)(model, tokenizer) == direct.val_ex_fine_tuned
    assert validation.identity != ValidationJudge(pairs.head(3), session, max_new_tokens=16).identity


def test_nothing_to_validate_on_keeps_the_base(session: SandboxSession) -> None:
    empty = judge(Fake({}), Fake({}), _pairs().head(0), session, "duckdb")
    assert (empty.adopted, empty.val_ex_base, empty.n_val_ex) == (BASE, None, 0)
    broken = _pairs().with_columns(pl.lit("SELECT * FROM no_such_table").alias("sql"))
    unjudged = judge(Fake({}), Fake({}), broken, session, "duckdb")
    assert (unjudged.adopted, unjudged.n_val_ex) == (BASE, 0) and "gold SQL" in unjudged.reason
    assert execution_accuracy([True, None, False]) == (0.5, 2)
