"""Tables that runs append to as segment files, never rewriting one: their schemas and folders."""

import logging
import os
import time
from pathlib import Path

import polars as pl

from asasql_resources.warehouse.home import Home
from asasql_resources.warehouse.store import DamagedFile, read_frame, write_frame

LOG = logging.getLogger(__name__)

LEDGER_SCHEMA = {
    "asset": pl.String,
    "partition": pl.String,
    "run_id": pl.String,
    "rows": pl.Int64,
    "data_version": pl.String,
    "upstream_versions": pl.String,
    "code_version": pl.String,
    "path": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}

LLM_CACHE_SCHEMA = {
    "key": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "prompt": pl.String,
    "sampling": pl.String,
    "outputs": pl.List(pl.String),
    "created_at": pl.Datetime("us", "UTC"),
}

# nl2sql_evaluation's figures of every run, so that runs can be compared: one row per (model, category).
EVALUATIONS_SCHEMA = {
    "run_id": pl.String,
    "model": pl.String,
    "model_version": pl.String,
    "split": pl.String,
    "category": pl.String,
    "n": pl.Int64,
    "ex": pl.Float64,
    "parse_rate": pl.Float64,
    "exec_rate": pl.Float64,
    "skipped_gold": pl.Int64,
    "created_at": pl.Datetime("us", "UTC"),
}

# nl2sql_evaluation's judgement of every test question of every run, per model.
EVALUATION_ITEMS_SCHEMA = {
    "run_id": pl.String,
    "model": pl.String,
    "question": pl.String,
    "category": pl.String,
    "split": pl.String,
    "gold_sql": pl.String,
    "predicted_sql": pl.String,
    "parse_ok": pl.Boolean,
    "exec_ok": pl.Boolean,
    "match": pl.Boolean,
    "skipped_gold": pl.Boolean,
    "error": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}

DUCKDB_TYPES = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.List(pl.String): "VARCHAR[]",
}


def segment_tables(home: Home) -> dict[str, tuple[str, dict[str, pl.DataType]]]:
    """Each segment table's view name, folder and schema."""
    return {
        "_materializations": (str(home.ledger), LEDGER_SCHEMA),
        "_llm_cache": (str(home.llm_cache), LLM_CACHE_SCHEMA),
        "_evaluations": (str(home.evaluations), EVALUATIONS_SCHEMA),
        "_evaluation_items": (str(home.evaluation_items), EVALUATION_ITEMS_SCHEMA),
    }


def append_segment(folder: Path, frame: pl.DataFrame, label: str) -> Path:
    """Write frame as a new segment file of a table (never rewriting one), atomically; its path."""
    path = folder / f"{time.time_ns()}-{label}.parquet"
    write_frame(frame, path)
    return path


def set_aside(segment: Path) -> Path:
    """Move a damaged segment to <name>.corrupt, out of its table and view, kept for inspection; the new path."""
    aside = segment.with_suffix(".corrupt")
    try:
        os.replace(segment, aside)
    except FileNotFoundError:
        pass  # another process moved it first
    return aside


def readable_segments(folder: Path) -> list[Path]:
    """A segment table's files that read back as written; each one that does not is set aside, with a warning.

    One damaged segment would otherwise fail every query of its view. Each file is read in full, its pages'
    checksums verified (`read_frame`), once per process: segments are never rewritten, and this runs at every
    rebuild of the views.
    """
    readable = []
    for segment in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        try:
            _read_once(segment)
        except FileNotFoundError:
            continue  # set aside by another process meanwhile
        except DamagedFile as error:
            aside = set_aside(segment)
            LOG.warning("segment %s cannot be read (%s); moved to %s, out of its view", segment, error, aside)
            continue
        readable.append(segment)
    return readable


_READ_WHOLE: set[tuple[Path, int, int]] = set()  # (segment, size, mtime) that this process has read in full


def _read_once(segment: Path) -> None:
    """Read a segment in full (DamagedFile if it does not read back as written), unless this process has."""
    status = segment.stat()
    key = (segment, status.st_size, status.st_mtime_ns)
    if key not in _READ_WHOLE:
        read_frame(segment)
        _READ_WHOLE.add(key)


def empty_select_sql(schema: dict[str, pl.DataType]) -> str:
    """A SELECT with these columns and no rows, for a table with no segment yet."""
    columns = [f"CAST(NULL AS {DUCKDB_TYPES.get(dtype, 'TIMESTAMPTZ')}) AS {name}" for name, dtype in schema.items()]
    return f"SELECT {', '.join(columns)} WHERE false"
