"""The LLM call cache: segments of Parquet under ASASQL_HOME, seen in the warehouse as `_llm_cache`."""

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling
from asasql_resources.warehouse.segments import LLM_CACHE_SCHEMA
from asasql_resources.warehouse.store import write_frame

LOG = logging.getLogger(__name__)
def cache_key(backend: str, model: str, prompt: ChatPrompt, sampling: Sampling) -> str:
    """The hash of everything that determines a completion."""
    material = json.dumps(
        [backend, model, prompt.canonical(), sampling.as_dict()], ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(material.encode()).hexdigest()


def cacheable(sampling: Sampling) -> bool:
    """Only reproducible calls are cached: greedy, or sampled with a seed."""
    return sampling.greedy or sampling.seed is not None


class LlmCache:
    """Completions by cache key; each store writes one new segment atomically, never rewriting old ones."""

    def __init__(self, folder: Path):
        """A cache in this folder (created on first write)."""
        self.folder = folder
        self._entries: dict[str, list[str]] | None = None
        self.corrupt_segments: list[Path] = []

    def _load(self) -> dict[str, list[str]]:
        """Read every segment once; a damaged one is reported and set aside, its entries recomputed later."""
        if self._entries is None:
            self._entries = {}
            for segment in sorted(self.folder.glob("*.parquet")) if self.folder.is_dir() else []:
                try:
                    frame = pl.read_parquet(segment, columns=["key", "outputs"])
                except Exception as error:  # noqa: BLE001 - any unreadable file is treated the same way
                    aside = segment.with_suffix(".corrupt")
                    os.replace(segment, aside)
                    self.corrupt_segments.append(aside)
                    LOG.warning("LLM cache segment %s is unreadable (%s); moved to %s", segment, error, aside)
                    continue
                self._entries.update(zip(frame["key"].to_list(), frame["outputs"].to_list()))
        return self._entries

    def lookup(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The cached completions among these keys."""
        entries = self._load()
        return {k: entries[k] for k in keys if k in entries}

    def store(self, backend: str, model: str, rows: Mapping[str, tuple[ChatPrompt, Sampling, list[str]]]) -> None:
        """Add completions (key -> prompt, sampling, outputs) as one segment."""
        if not rows:
            return
        now = datetime.now(timezone.utc)
        frame = pl.DataFrame(
            [
                {
                    "key": key,
                    "backend": backend,
                    "model": model,
                    "prompt": prompt.canonical(),
                    "sampling": json.dumps(sampling.as_dict(), sort_keys=True),
                    "outputs": outputs,
                    "created_at": now,
                }
                for key, (prompt, sampling, outputs) in rows.items()
            ],
            schema=LLM_CACHE_SCHEMA,
        )
        write_frame(frame, self.folder / f"{time.time_ns()}-{os.getpid()}.parquet")
        self._load().update({key: outputs for key, (_, _, outputs) in rows.items()})
