"""`asasql export` and `asasql predict`: the training set for other trainers, and the fine-tuned model's answers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from asasql_assets.cli.outfile import (
    InputError,
    OutputError,
    check_question,
    check_writable,
    read_questions,
    write_json,
)
from asasql_assets.progress import progress_line
from asasql_resources.domain import Domain, DomainValidationError, load_domain
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.examples import ExampleBank, load_bank
from asasql_resources.nl2sql.prompt import DEFAULT_CONTEXT_CHARS, domain_schema_context
from asasql_resources.warehouse import Home, read_frame, resolve_home

if TYPE_CHECKING:  # predict imports torch: loaded only once a command gets past its input checks
    from asasql_resources.nl2sql.predict import Predictor

FORMATS = ("jsonl", "alpaca", "sharegpt")
EXIT_INVALID = 2  # malformed input or an OUT that cannot be written (as `asasql validate`)


class MissingAsset(RuntimeError):
    """An asset a command needs has not been materialized in this home."""


def _asset(home: Home, name: str) -> pl.DataFrame:
    """The stored table of an unpartitioned asset, or MissingAsset naming what to run."""
    path = home.asset_file(name, None)
    if not path.exists():
        raise MissingAsset(f"no {name} in {home.root}: run `asasql run` (or materialize {name} in `make ui`) first")
    return read_frame(path)[0]


def _prompt_settings(home: Home) -> tuple[int, bool]:
    """The schema-context size nl2sql_model was trained with, and whether its prompts show an example.

    Before nl2sql_model exists: the defaults of its config.
    """
    path = home.asset_file("nl2sql_model", None)
    if not path.exists():
        return DEFAULT_CONTEXT_CHARS, True
    row = read_frame(path)[0].row(0, named=True)
    return int(row["context_chars"]), bool(row["example_in_prompt"])


def _resources() -> dict[str, object]:
    """The resources of a run's settings, built as the code location builds them (values as text)."""
    from asasql_assets.resources import build_resources

    return build_resources(plain=True)


def _embedder() -> Embedder:
    """The embedder of the run's settings (ASASQL_EMBED_MODEL, ASASQL_EMBED_QUERY_INSTRUCTION, ASASQL_EMBED_DEVICE)."""
    return _resources()["embedder"]


def export_records(dataset: pl.DataFrame, predictor: Predictor, fmt: str) -> list[dict[str, Any]]:
    """The training pairs in one format: jsonl (the seed's field names plus schema_context), alpaca or sharegpt.

    alpaca and sharegpt carry the exact system and user turns that nl2sql_model is trained with, each row showing
    the example its training prompt shows (the nearest other pair of the predictor's bank).
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return [
            {
                "origin_query": row["question"],
                "sql": row["sql"],
                "table_name": row["table_name"],
                "table": row["table"],
                "column": row["column"],
                "label": True,
                "schema_context": predictor.schema_context,
                "source": row["source"],
            }
            for row in dataset.iter_rows(named=True)
        ]
    questions = dataset["question"].to_list()
    prompts = predictor.prompts(questions, predictor.examples(questions, training=True))
    if fmt == "alpaca":
        return [
            {"instruction": prompt.user, "input": "", "output": sql, "system": prompt.system}
            for prompt, sql in zip(prompts, dataset["sql"], strict=True)
        ]
    return [
        {
            "conversations": [{"from": "human", "value": prompt.user}, {"from": "gpt", "value": sql}],
            "system": prompt.system,
        }
        for prompt, sql in zip(prompts, dataset["sql"], strict=True)
    ]


def _domain(domain: Path | None) -> Path:
    """The domain folder: the argument, else $ASASQL_DOMAIN, else project_data."""
    return domain or Path(os.environ.get("ASASQL_DOMAIN", "project_data"))


def export(fmt: str, out: Path, home_arg: Path | None, domain: Path | None) -> int:
    """Write filtered_dataset to out in one format; 1 when it is missing, 2 for a bad domain or an unwritable OUT."""
    home = Home(resolve_home(home_arg))
    try:
        check_writable(out)
        dataset = _asset(home, "filtered_dataset")
        catalog = _asset(home, "schema_catalog")
        loaded = load_domain(_domain(domain))
    except MissingAsset as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OutputError, DomainValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    from asasql_resources.nl2sql.predict import Predictor

    chars, with_example = _prompt_settings(home)
    context = domain_schema_context(catalog, max_chars=chars)
    bank = ExampleBank(dataset, _embedder()) if with_example and fmt != "jsonl" else None
    predictor = Predictor(None, context, loaded.config.sql_dialect, bank)
    records = export_records(dataset, predictor, fmt)
    try:
        write_json(records, out, lines=fmt == "jsonl")
    except OutputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {len(records)} {fmt} records to {out}")
    return 0


def _questions(question: str | None, file: Path | None) -> list[str]:
    """The questions to answer: the argument, or the `question` of every object in a JSON array file."""
    if file is None:
        if question is None:
            raise InputError("give a question, or --file QUESTIONS.json")
        return [check_question(question, "the question")]
    return read_questions(file)


def _rows(columns: list[str], rows: list[tuple]) -> Iterator[str]:
    """Result rows as tab-separated lines under a header."""
    yield "\t".join(columns)
    for row in rows:
        yield "\t".join("" if value is None else str(value) for value in row)


def load_predictor(home: Home, domain: Path | None) -> tuple[Predictor, Domain]:
    """The model the latest nl2sql_model adopted, with its prompt settings, loaded, and the domain (see `_domain`).

    The fine-tuned adapter, or the base when nl2sql_model's gate refused the adapter (`adopted` "base"); either
    is shown the nearest pair of the adapter's example bank, as on the gate's validation pairs.
    Raises MissingAsset, DomainValidationError, or ValueError/OSError for a model that cannot load.
    """
    from asasql_resources.nl2sql.base import Nl2SqlBase
    from asasql_resources.nl2sql.predict import Predictor

    trained = _asset(home, "nl2sql_model").row(0, named=True)
    catalog = _asset(home, "schema_catalog")
    loaded = load_domain(_domain(domain))
    configured = _resources()["nl2sql_base"]
    base = Nl2SqlBase(model=trained["base"], dtype=configured.dtype, device=configured.device)
    adapter = Path(trained["adapter_path"])
    context = domain_schema_context(catalog, max_chars=int(trained["context_chars"]))
    bank = load_bank(adapter, _embedder()) if trained["example_in_prompt"] else None
    refused = trained.get("adopted") == "base"  # a row from before the gate has no `adopted`: the adapter
    load = base.load if refused else lambda: base.load(adapter)
    predictor = Predictor(load, context, loaded.config.sql_dialect, bank)
    predictor.model()
    return predictor, loaded


def predict(
    question: str | None, file: Path | None, out: Path | None, execute: bool, home_arg: Path | None, domain: Path | None
) -> int:
    """Answer questions with the latest nl2sql_model: print SQL (and rows with execute), or write --out in batch."""
    from asasql_resources.sandbox import SqlSandbox

    home = Home(resolve_home(home_arg))
    try:
        questions = _questions(question, file)
        if out is not None:
            check_writable(out)
        predictor, loaded = load_predictor(home, domain)
    except (InputError, OutputError, DomainValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except (ValueError, OSError, MissingAsset) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    say = progress_line(partial(print, file=sys.stderr), "predict", "questions") if len(questions) > 1 else None
    sqls = predictor.answer(questions, progress=say)
    if out is not None:
        try:
            write_json([{"question": q, "sql": s} for q, s in zip(questions, sqls, strict=True)], out, lines=False)
        except OutputError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_INVALID
        print(f"wrote {len(sqls)} predictions to {out} ({sum(s is None for s in sqls)} without SQL)")
        return 0
    failed = False
    dialect = predictor.dialect
    with SqlSandbox().session(loaded.database_path, loaded.catalog) as session:
        for q, sql in zip(questions, sqls, strict=True):
            if sql is None:
                print(f"-- no SQL query in the model's answer to: {q}", file=sys.stderr)
                failed = True
                continue
            print(sql)
            if execute:
                result = session.execute(sql, dialect)
                if not result.ok:
                    print(f"-- error: {result.error}", file=sys.stderr)
                    failed = True
                    continue
                print("\n".join(_rows(result.columns, result.rows)))
                print(f"-- {result.row_count} row(s){' (truncated)' if result.truncated else ''}", file=sys.stderr)
    return 1 if failed else 0
