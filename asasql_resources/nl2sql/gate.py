"""The do-no-harm gate of nl2sql_model: labeled pairs held out of training, and the adapter adopted only if no worse.

No worse: its execution accuracy on those pairs is at least the base's, both shown the same prompt and example bank.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.annotation.reference import order_matters, results_match
from asasql_resources.domain.leaks import normalise_question
from asasql_resources.models.adapters import MANIFEST_NAME, load_manifest
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.answer import SQL_MAX_NEW_TOKENS, extract_sql
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.examples import Example, ExampleBank, load_bank
from asasql_resources.nl2sql.finetune import EpochScore
from asasql_resources.nl2sql.predict import Predictor
from asasql_resources.nl2sql.training import LABELED_SOURCES
from asasql_resources.sandbox import ExecResult, SandboxSession
from asasql_resources.warehouse import content_hash

FINE_TUNED, BASE = "fine_tuned", "base"  # the values of `adopted`
VALUE_SWAP, SWAP_SUFFIX = "value_swap", "#swap"  # filtering.with_value_swaps: source, and the origin id's suffix
VALIDATION_SHARE = 0.2  # of the labeled questions, held out; at least MIN_VALIDATION, at most MAX_VALIDATION,
MIN_VALIDATION, MAX_VALIDATION = 4, 40
SMALL = 8  # and below SMALL labeled questions, half of them (rounded down: none of a single one)
GATE_KEY = "gate"  # the verdict in the adapter manifest's metrics
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


class Answerer(Protocol):
    """What the gate judges: a Predictor, or anything that answers questions with SQL the same way."""

    def answer(
        self, questions: Sequence[str], *, examples: Sequence[Example | None] | None = ..., max_new_tokens: int = ...
    ) -> list[str | None]: ...


@dataclass(frozen=True)
class HoldOut:
    """A dataset split for the gate: the rows to train on, the validation pairs, and how many rows they cost."""

    train: pl.DataFrame
    validation: pl.DataFrame  # question, sql: one labeled pair per held-out question
    kept_out: int  # rows of the dataset not trained on, the validation pairs' own rows included


@dataclass(frozen=True)
class Verdict:
    """Which model nl2sql_model hands over, and the validation EX that decided it (None where not measured)."""

    adopted: str
    val_ex_base: float | None
    val_ex_fine_tuned: float | None
    n_val_ex: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The verdict as plain values (the columns of nl2sql_model's row, plus the reason)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ValidationJudge:
    """Scores each epoch of the fine-tune on the gate's validation pairs, prompted and decoded as the gate does."""

    pairs: pl.DataFrame  # question, sql
    session: SandboxSession
    max_new_tokens: int = SQL_MAX_NEW_TOKENS

    @property
    def identity(self) -> str:
        """What the chosen epoch depends on: the pairs and the decoding."""
        return f"{content_hash(self.pairs)}:{self.max_new_tokens}"

    def scorer(self, schema_context: str, dialect: str, bank: ExampleBank | None) -> EpochScore:
        """The validation EX of a model in training, each question shown its nearest pair of `bank`."""
        questions = self.pairs["question"].to_list()
        shown = bank.nearest(questions) if bank is not None and questions else None

        def score(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> float | None:
            answerer = Predictor(lambda: (model, tokenizer), schema_context, dialect)
            ex, _ = validation_ex(
                answerer, self.pairs, self.session, dialect, examples=shown, max_new_tokens=self.max_new_tokens
            )
            return ex

        return score


def validation_size(labeled: int) -> int:
    """Held-out questions of `labeled`: 20%, at least 4 and at most 40; below 8, half of them (rounded down)."""
    if labeled < SMALL:
        return labeled // 2
    return min(max(round(VALIDATION_SHARE * labeled), MIN_VALIDATION), MAX_VALIDATION)


def sql_key(sql: str) -> str:
    """An SQL compared loosely: whitespace collapsed, case folded, a trailing semicolon dropped."""
    return " ".join(sql.split()).rstrip(";").strip().casefold()


def sql_template(sql: str) -> str:
    """sql_key with every string literal masked: what a value swap leaves unchanged."""
    return sql_key(_STRING_LITERAL.sub("'?'", sql))


def hold_out(dataset: pl.DataFrame, seed: int, *, enabled: bool = True) -> HoldOut:
    """A seeded validation set of labeled pairs (LABELED_SOURCES), and the dataset without everything it touches.

    `validation_size` questions are drawn among the distinct (normalised) questions of the labeled rows. Kept out of
    training, conservatively: every row with a held-out question (any source), every row whose SQL is a held-out
    SQL (`sql_key`), and every value swap made from a held-out pair (its candidate_id is the pair's plus
    SWAP_SUFFIX) or with a held-out pair's SQL template (`sql_template`: the literals that swaps change masked).
    Not enabled, or too few labeled questions: nothing is held out.
    """
    empty = pl.DataFrame(schema={"question": pl.String, "sql": pl.String})
    labeled = dataset.filter(pl.col("source").is_in(LABELED_SOURCES))
    by_question: dict[str, tuple[str, str]] = {}
    for question, sql in sorted(labeled.select("question", "sql").iter_rows()):
        by_question.setdefault(normalise_question(question), (question, sql))
    count = validation_size(len(by_question)) if enabled else 0
    if count == 0:
        return HoldOut(dataset, empty, 0)
    chosen = random.Random(seed).sample(sorted(by_question), count)
    validation = pl.DataFrame([by_question[key] for key in sorted(chosen)], schema=empty.schema, orient="row")
    questions = set(chosen)
    held = labeled.filter(pl.col("question").map_elements(normalise_question, return_dtype=pl.String).is_in(questions))
    origins = set(held["candidate_id"].drop_nulls().to_list())
    sqls = {sql_key(sql) for sql in validation["sql"]}
    templates = {sql_template(sql) for sql in validation["sql"]}
    swap = pl.col("source") == VALUE_SWAP
    out = (
        pl.col("question").map_elements(normalise_question, return_dtype=pl.String).is_in(questions)
        | pl.col("sql").map_elements(sql_key, return_dtype=pl.String).is_in(sqls)
        | (swap & pl.col("candidate_id").str.strip_suffix(SWAP_SUFFIX).is_in(origins))
        | (swap & pl.col("sql").map_elements(sql_template, return_dtype=pl.String).is_in(templates))
    ).fill_null(False)
    train = dataset.filter(~out)
    return HoldOut(train, validation, dataset.height - train.height)


def adopt(base_ex: float | None, tuned_ex: float | None) -> str:
    """FINE_TUNED when the adapter's validation EX is at least the base's; BASE otherwise, or when either is unknown."""
    if base_ex is None or tuned_ex is None:
        return BASE
    return FINE_TUNED if tuned_ex >= base_ex else BASE


def matches(
    predictions: Sequence[str | None], gold: Sequence[str], session: SandboxSession, dialect: str
) -> list[bool | None]:
    """Whether each prediction's result equals its gold SQL's (as evaluation judges); None where the gold fails."""
    runs: dict[str, tuple[ExecResult, bool]] = {}
    judged: list[bool | None] = []
    for predicted, gold_sql in zip(predictions, gold, strict=True):
        if gold_sql not in runs:
            runs[gold_sql] = (session.execute(gold_sql, dialect), order_matters(gold_sql, dialect))
        result, ordered = runs[gold_sql]
        if not result.ok:
            judged.append(None)
        elif predicted is None or extract_sql(predicted, dialect) is None:
            judged.append(False)
        else:
            judged.append(results_match(session.execute(predicted, dialect), result, ordered))
    return judged


def execution_accuracy(judged: Sequence[bool | None]) -> tuple[float | None, int]:
    """EX over the judged items (gold that failed not counted) and their number; EX None when there are none."""
    counted = [match for match in judged if match is not None]
    return (sum(counted) / len(counted) if counted else None), len(counted)


def validation_ex(
    answerer: Answerer,
    pairs: pl.DataFrame,
    session: SandboxSession,
    dialect: str,
    *,
    examples: Sequence[Example | None] | None = None,
    max_new_tokens: int = SQL_MAX_NEW_TOKENS,
) -> tuple[float | None, int]:
    """One answerer's EX on (question, sql) pairs, judged by execution in the session, and the pairs counted."""
    predictions = answerer.answer(pairs["question"].to_list(), examples=examples, max_new_tokens=max_new_tokens)
    return execution_accuracy(matches(predictions, pairs["sql"].to_list(), session, dialect))


@dataclass(frozen=True)
class Measured:
    """An answerer's validation EX measured already (an epoch's, while training): the gate need not decode again."""

    ex: float | None


def judge(
    base: Answerer,
    tuned: Answerer | Measured,
    pairs: pl.DataFrame,
    session: SandboxSession,
    dialect: str,
    *,
    examples: Sequence[Example | None] | None = None,
    max_new_tokens: int = SQL_MAX_NEW_TOKENS,
    log: Callable[[str], None] = lambda line: None,
) -> Verdict:
    """Both answerers on the validation pairs (each shown the same examples), and which to adopt (`adopt`).

    Each answerer is released (when it has `release`) once judged, so that the two never need memory together.
    A Measured adapter counts the same pairs as the base (the gold SQL that ran).
    """
    if pairs.is_empty():
        return Verdict(BASE, None, None, 0, "no labeled pair could be held out to validate the adapter on")
    figures: list[tuple[float | None, int]] = []
    for name, answerer in ((BASE, base), (FINE_TUNED, tuned)):
        if isinstance(answerer, Measured):
            figures.append((answerer.ex, figures[0][1]))
            log(f"nl2sql_model gate: {name} validation EX {_text(answerer.ex)}, measured in training")
            continue
        figures.append(
            validation_ex(answerer, pairs, session, dialect, examples=examples, max_new_tokens=max_new_tokens)
        )
        if hasattr(answerer, "release"):
            answerer.release()
        log(f"nl2sql_model gate: {name} validation EX {_text(figures[-1][0])} on {figures[-1][1]} pairs")
    (base_ex, counted), (tuned_ex, _) = figures
    adopted = adopt(base_ex, tuned_ex)
    if counted == 0:
        reason = "no validation pair's gold SQL ran, so the adapter could not be validated"
    elif adopted == FINE_TUNED:
        reason = f"the adapter's validation EX {_text(tuned_ex)} is at least the base's {_text(base_ex)}"
    else:
        reason = f"the adapter's validation EX {_text(tuned_ex)} is below the base's {_text(base_ex)}"
    return Verdict(adopted, base_ex, tuned_ex, counted, f"{reason} ({counted} held-out pairs)")


def gate_adapter(
    base: Nl2SqlBase,
    adapter_dir: Path,
    validation: pl.DataFrame,
    schema_context: str,
    dialect: str,
    session: SandboxSession,
    log: Callable[[str], None],
    *,
    embedder: Embedder | None = None,
    max_new_tokens: int = SQL_MAX_NEW_TOKENS,
    tuned_ex: Measured | None = None,
) -> tuple[Verdict, bool]:
    """Judge the saved adapter against the base on the validation pairs, record the verdict in its manifest.

    Both are prompted alike: the schema context, and with an embedder the nearest pair of the adapter's example
    bank (its training pairs). A verdict already in the manifest for this adapter, these pairs, prompt and
    decoding is reused (the second value True). `tuned_ex`: the adapter's EX on these pairs, measured in training
    by a ValidationJudge with the same decoding, so that only the base is decoded here.
    """
    manifest = load_manifest(adapter_dir)
    described = {
        "adapter": manifest.data_version,
        "base": manifest.base_identity,
        "pairs": content_hash(validation),
        "context": hashlib.sha256(schema_context.encode()).hexdigest(),
        "dialect": dialect,
        "examples": embedder.identity if embedder is not None else None,
        "max_new_tokens": max_new_tokens,
    }
    version = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]
    saved = manifest.metrics.get(GATE_KEY)
    if isinstance(saved, dict) and saved.get("version") == version:
        log(f"nl2sql_model gate: the verdict on these {validation.height} validation pairs is saved; reusing it")
        return Verdict(**{field.name: saved[field.name] for field in dataclasses.fields(Verdict)}), True
    questions = validation["question"].to_list()
    bank = load_bank(adapter_dir, embedder) if embedder is not None and questions else None
    shown = bank.nearest(questions) if bank is not None else None
    verdict = judge(
        Predictor(base.load, schema_context, dialect),
        tuned_ex or Predictor(lambda: base.load(adapter_dir), schema_context, dialect),
        validation,
        session,
        dialect,
        examples=shown,
        max_new_tokens=max_new_tokens,
        log=log,
    )
    record_verdict(adapter_dir, {**verdict.as_dict(), "version": version})
    return verdict, False


def record_verdict(adapter_dir: Path, verdict: dict[str, Any]) -> None:
    """Write the gate's verdict into the metrics of the adapter's manifest (atomically: a sibling, then rename)."""
    manifest = load_manifest(adapter_dir)
    updated = dataclasses.replace(manifest, metrics={**manifest.metrics, GATE_KEY: verdict})
    handle, temporary = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", dir=adapter_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(updated.to_json())
        os.replace(temporary, adapter_dir / MANIFEST_NAME)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _text(ex: float | None) -> str:
    """An EX for a log line."""
    return "n/a" if ex is None else f"{ex:.3f}"
