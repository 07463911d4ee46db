"""Atomic Parquet storage of polars frames, with a content hash kept in the file."""

import hashlib
import io
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

VERSION_KEY = b"asasql.data_version"


def content_hash(frame: pl.DataFrame) -> str:
    """A stable hash of a frame's schema and values (Arrow IPC bytes, uncompressed)."""
    buffer = io.BytesIO()
    frame.rechunk().write_ipc(buffer, compression="uncompressed")
    return hashlib.sha256(buffer.getvalue()).hexdigest()[:24]


def write_frame(frame: pl.DataFrame, path: Path, data_version: str | None = None) -> None:
    """Write a frame to Parquet atomically: a temporary file in the same folder, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = frame.to_arrow()
    if data_version is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), VERSION_KEY: data_version.encode()})
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_frame(path: Path) -> tuple[pl.DataFrame, str | None]:
    """Read a frame and the data version stored with it."""
    table = pq.read_table(path)
    version = (table.schema.metadata or {}).get(VERSION_KEY)
    return pl.from_arrow(table.replace_schema_metadata(None)), version.decode() if version else None
