"""NL2SQL prediction: batched greedy SQL from a local model, and the Predictor that evaluation, predict and export share."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.models.decode import PrefixStore, decode, reused_cache_memory, tokens_containing
from asasql_resources.models.packed import LinearPacks
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Progress, Sampling
from asasql_resources.nl2sql.answer import SQL_MAX_NEW_TOKENS, SQL_STOP, extract_sql
from asasql_resources.nl2sql.examples import Example, ExampleBank
from asasql_resources.nl2sql.finetune import fit_prompt, pad_id, stop_ids
from asasql_resources.nl2sql.prompt import nl2sql_prompt

DEFAULT_CONTEXT = 2048  # model context when its config does not say
# Questions per batched greedy decode: the shared schema is kept once (cascade attention), so a row's cache holds
# only its example, question and answer (benchmarks/prefix_cache.py).
BATCH_SIZE = 64
Loader = Callable[[], tuple[PreTrainedModel, PreTrainedTokenizerBase]]


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


@dataclass
class Predictor:
    """An NL2SQL model with its prompt settings: the schema context, the dialect and the example bank.

    The model is loaded on the first answer (export builds prompts without it) and kept until `release`.
    """

    load: Loader | None
    schema_context: str
    dialect: str
    bank: ExampleBank | None = None
    _loaded: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = field(default=None, init=False, repr=False)

    def examples(self, questions: Sequence[str], *, training: bool = False) -> list[Example | None]:
        """The bank pair each question's prompt shows (none without a bank); training skips a pair's own question."""
        if self.bank is None:
            return [None] * len(questions)
        return self.bank.nearest(list(questions), skip_same=training)

    def prompts(self, questions: Sequence[str], examples: Sequence[Example | None] | None = None) -> list[ChatPrompt]:
        """The NL2SQL prompt of each question, showing its example (the nearest bank pair when not given)."""
        shown = self.examples(questions) if examples is None else examples
        return [
            nl2sql_prompt(self.schema_context, question, self.dialect, example)
            for question, example in zip(questions, shown, strict=True)
        ]

    def model(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The model and tokenizer, loaded once."""
        if self._loaded is None:
            if self.load is None:
                raise ValueError("this Predictor has no model to load: it only builds prompts")
            self._loaded = self.load()
        return self._loaded

    def answer(
        self,
        questions: Sequence[str],
        *,
        examples: Sequence[Example | None] | None = None,
        max_new_tokens: int = SQL_MAX_NEW_TOKENS,
        batch_size: int = BATCH_SIZE,
        progress: Progress | None = None,
    ) -> list[str | None]:
        """The SQL of each question (None where the answer holds none), greedy, in order."""
        model, tokenizer = self.model()
        return predict_sql(
            model,
            tokenizer,
            self.prompts(questions, examples),
            dialect=self.dialect,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            progress=progress,
        )

    def release(self) -> None:
        """Drop the loaded model, so that the next one fits in memory."""
        self._loaded = None
        gc.collect()  # a merged copy sits in reference cycles: free its gigabytes now, not at some later collection
