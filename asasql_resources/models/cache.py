"""The LLM call cache: segments of Parquet under ASASQL_HOME, seen in the warehouse as `_llm_cache`."""

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling
from asasql_resources.warehouse.segments import LLM_CACHE_SCHEMA, set_aside
from asasql_resources.warehouse.store import DamagedFile, read_frame, write_frame

LOG = logging.getLogger(__name__)

# A usable row has a key, and exactly the n outputs its sampling asked for, none of them null.
USABLE_ROW = (
    pl.col("key").is_not_null()
    & pl.col("outputs").is_not_null()
    & (pl.col("outputs").list.len() == pl.col("sampling").str.json_path_match("$.n").cast(pl.Int64, strict=False))
    & ~pl.col("outputs").list.eval(pl.element().is_null()).list.any()
).fill_null(False)


def cache_key(backend: str, model: str, prompt: ChatPrompt, sampling: Sampling) -> str:
    """The hash of everything that determines a completion."""
    material = json.dumps([backend, model, prompt.canonical(), sampling.as_dict()], ensure_ascii=False, sort_keys=True)
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
        """Read every segment once; damaged segments and rows are reported and ignored, their calls made again."""
        if self._entries is None:
            self._entries = {}
            for segment in sorted(self.folder.glob("*.parquet")) if self.folder.is_dir() else []:
                self._entries.update(self._read_segment(segment))
        return self._entries

    def _read_segment(self, segment: Path) -> dict[str, list[str]]:
        """The usable entries of one segment; a damaged one is set aside, its usable rows kept in a new segment."""
        try:
            frame = read_frame(segment)[0]
            usable = frame.filter(USABLE_ROW)
        except (DamagedFile, pl.exceptions.PolarsError) as error:
            self._set_aside(segment, f"it cannot be read ({error})")
            return {}
        if usable.height < frame.height:
            if not usable.is_empty():
                write_frame(usable, self._new_segment())
            self._set_aside(segment, f"{frame.height - usable.height} of its {frame.height} row(s) are unusable")
        return dict(zip(usable["key"].to_list(), usable["outputs"].to_list(), strict=False))

    def _set_aside(self, segment: Path, why: str) -> None:
        """Move a damaged segment to <name>.corrupt, out of the cache and the `_llm_cache` view, and say so."""
        aside = set_aside(segment)
        self.corrupt_segments.append(aside)
        LOG.warning("LLM cache segment %s: %s; moved to %s, and its calls are made again", segment, why, aside)

    def _new_segment(self) -> Path:
        """The path of a new segment."""
        return self.folder / f"{time.time_ns()}-{os.getpid()}.parquet"

    def lookup(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The cached completions among these keys."""
        entries = self._load()
        return {k: entries[k] for k in keys if k in entries}

    def store(self, backend: str, model: str, rows: Mapping[str, tuple[ChatPrompt, Sampling, list[str]]]) -> None:
        """Add completions (key -> prompt, sampling, outputs) as one segment."""
        if not rows:
            return
        now = datetime.now(UTC)
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
        write_frame(frame, self._new_segment())
        self._load().update({key: outputs for key, (_, _, outputs) in rows.items()})
