"""The example bank of the NL2SQL prompt: the labeled pair whose question is nearest, found with faiss."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import polars as pl

from asasql_resources.models.embedder import Embedder
from asasql_resources.warehouse import read_frame

Example = tuple[str, str]
BANK_FILE = "examples.parquet"


class ExampleBank:
    """(question, SQL) pairs indexed by their question embeddings, for nearest-example lookup."""

    def __init__(self, pairs: pl.DataFrame, embedder: Embedder) -> None:
        """Embed the questions of pairs (columns question, sql) and index them by inner product."""
        self.pairs = pairs.select("question", "sql")
        self._embedder = embedder
        vectors = embedder.encode(self.pairs["question"].to_list())
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            self._index.add(vectors)

    def nearest(self, questions: Sequence[str], *, skip_same: bool = False) -> list[Example | None]:
        """The bank pair nearest each question (None from an empty bank); skip_same passes over equal questions."""
        if self._index.ntotal == 0:
            return [None] * len(questions)
        k = min(2 if skip_same else 1, self._index.ntotal)
        _, slots = self._index.search(self._embedder.encode(list(questions), is_query=True), k)
        rows = self.pairs.rows()
        chosen = []
        for question, found in zip(questions, slots, strict=True):
            candidates = [int(i) for i in found if i >= 0 and not (skip_same and rows[int(i)][0] == question)]
            chosen.append(rows[candidates[0]] if candidates else None)
        return chosen


def train_examples(bank: ExampleBank) -> list[Example | None]:
    """For each bank pair, the nearest other pair: the example its training prompt shows."""
    return bank.nearest(bank.pairs["question"].to_list(), skip_same=True)


def load_bank(adapter_dir: Path, embedder: Embedder) -> ExampleBank | None:
    """The example bank saved with an adapter, or None when it was trained without examples in its prompts."""
    path = adapter_dir / BANK_FILE
    return ExampleBank(read_frame(path)[0], embedder) if path.exists() else None
