"""Greedy SQL prediction with a local model, and execution accuracy (EX) against gold SQL in the sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from asasql_assets.synthesis.candidates import SQL_STOP, extract_sql
from asasql_resources.annotation.reference import order_matters, results_match
from asasql_resources.models.decode import PrefixStore, decode, reused_cache_memory, tokens_containing
from asasql_resources.models.packed import LinearPacks
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Progress, Sampling
from asasql_resources.models.sft import fit_prompt, pad_id, stop_ids
from asasql_resources.sandbox import ExecResult, SandboxSession

DEFAULT_CONTEXT = 2048  # model context when its config does not say
# Questions per batched greedy decode. The schema that every test prompt starts with is kept once (cascade
# attention), so a row's cache holds only its examples, question and answer: on the demo's 125 test questions with
# the base model, 64 took 68.6 s and 32 took 79.5 s, with the same answers (peak RSS 4.3 GB).
BATCH_SIZE = 64
ALL = "all"
PER_ITEM_SCHEMA: dict[str, pl.DataType] = {
    "question": pl.String(),
    "category": pl.String(),
    "gold_sql": pl.String(),
    "predicted_sql": pl.String(),
    "parse_ok": pl.Boolean(),
    "exec_ok": pl.Boolean(),
    "match": pl.Boolean(),
    "skipped_gold": pl.Boolean(),
    "error": pl.String(),
}


def predict_sql(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[ChatPrompt],
    *,
    dialect: str,
    max_new_tokens: int = 256,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> list[str | None]:
    """Greedy answers in length-sorted batches, as the SQL extracted from each (None when none parses), in order.

    Prompts are tokenized and, when longer than the context leaves room for, cut exactly as in fine-tuning.
    """
    context = getattr(model.config, "max_position_embeddings", None) or DEFAULT_CONTEXT
    if max_new_tokens >= context:
        raise ValueError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in a {context}-token context")
    encoded = [fit_prompt(tokenizer, prompt, context - max_new_tokens) for prompt in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    stops, pad = stop_ids(model, tokenizer), pad_id(tokenizer)
    sampling = Sampling(max_new_tokens=max_new_tokens, stop=SQL_STOP)
    last = tokens_containing(tokenizer, sampling.stop)
    predictions: list[str | None] = [None] * len(prompts)
    prefixes = PrefixStore()  # the schema every batch starts with is computed once per call
    packs = LinearPacks()  # and the weights packed once
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), reused_cache_memory():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                batch_ids = [encoded[i] for i in batch]
                new = decode(model, batch_ids, sampling, stops, pad, last_ids=last, prefixes=prefixes, packs=packs)
                for i, text in zip(batch, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                    predictions[i] = extract_sql(sampling.cut(text), dialect)
                if progress is not None:
                    progress(start + len(batch), len(order))
    finally:
        model.train(was_training)
    return predictions


def execution_accuracy(
    items: pl.DataFrame, predictions: Sequence[str | None], session: SandboxSession, dialect: str
) -> pl.DataFrame:
    """One row per item (question, gold_sql, optional category) judging its predicted SQL by execution.

    parse_ok: a query can be read from the prediction. exec_ok: it ran. match: its result equals the gold's
    (`results_match`, ordered when the gold SQL has an outer ORDER BY). A gold SQL that does not run marks the
    item skipped_gold, with exec_ok and match null: it is not counted against the model. Each gold SQL runs once.
    """
    if len(predictions) != items.height:
        raise ValueError(f"need one prediction per item: {items.height} items, {len(predictions)} predictions")
    gold_runs: dict[str, tuple[ExecResult, bool]] = {}
    records = []
    for row, predicted in zip(items.iter_rows(named=True), predictions, strict=True):
        gold_sql = row["gold_sql"]
        if gold_sql not in gold_runs:
            gold_runs[gold_sql] = (session.execute(gold_sql, dialect), order_matters(gold_sql, dialect))
        records.append(
            {
                "question": row["question"],
                "category": row.get("category"),
                "gold_sql": gold_sql,
                "predicted_sql": predicted,
                **judge(predicted, *gold_runs[gold_sql], session, dialect),
            }
        )
    return pl.DataFrame(records, schema=PER_ITEM_SCHEMA)


def judge(
    predicted: str | None, gold: ExecResult, ordered: bool, session: SandboxSession, dialect: str
) -> dict[str, Any]:
    """parse_ok, exec_ok, match, skipped_gold and error of one prediction against its gold result."""
    parse_ok = predicted is not None and extract_sql(predicted, dialect) is not None
    if not gold.ok:
        return {"parse_ok": parse_ok, "exec_ok": None, "match": None, "skipped_gold": True,
                "error": f"gold SQL failed: {gold.error}"}
    if not parse_ok:
        return {"parse_ok": False, "exec_ok": False, "match": False, "skipped_gold": False,
                "error": "no SQL query in the prediction"}
    result = session.execute(str(predicted), dialect)
    return {"parse_ok": True, "exec_ok": result.ok, "match": results_match(result, gold, ordered),
            "skipped_gold": False, "error": result.error}


def summarize(per_item: pl.DataFrame, model_name: str) -> pl.DataFrame:
    """EX, parse and execution rates over the items with a working gold SQL: overall ("all") then per category.

    n counts those items; the rates are null when n is 0; skipped_gold counts the items whose gold SQL failed.
    """
    counted = ~pl.col("skipped_gold")
    figures = {
        "n": counted.sum().cast(pl.Int64),
        "ex": pl.col("match").filter(counted).mean(),
        "parse_rate": pl.col("parse_ok").filter(counted).mean(),
        "exec_rate": pl.col("exec_ok").filter(counted).mean(),
        "skipped_gold": pl.col("skipped_gold").sum().cast(pl.Int64),
    }
    overall = per_item.select(category=pl.lit(ALL), **figures)
    categories = per_item.filter(pl.col("category").is_not_null()).group_by("category").agg(**figures)
    return pl.concat([overall, categories.sort("category")]).select(pl.lit(model_name).alias("model"), pl.all())
