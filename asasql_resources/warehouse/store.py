"""Atomic Parquet storage of polars frames, with the data version and checksums kept in the file, checked on read."""

import errno
import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

VERSION_KEY = b"asasql.data_version"
DIGEST_KEY = b"asasql.digest"
NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
LIST_TYPES = (
    pa.types.is_list,
    pa.types.is_large_list,
    pa.types.is_fixed_size_list,
    pa.types.is_list_view,
    pa.types.is_large_list_view,
)


class DamagedFile(ValueError):
    """A stored Parquet file that cannot be read back as it was written."""

    def __init__(self, path: Path, reason: str):
        """The damaged file and what is wrong with it."""
        super().__init__(f"{path} is damaged: {reason}")
        self.path = path
        self.reason = reason


def content_hash(frame: pl.DataFrame) -> str:
    """A hash of a frame's schema and values, equal for equal frames however they are chunked or were stored.

    It hashes polars' row hashes (stable within one polars version, which is pinned), not Arrow buffers: the
    bytes under a null slot are arbitrary, so equal frames with nulls had different buffers.
    """
    rows = frame.hash_rows(seed=0).to_numpy().tobytes() if frame.width else b""
    return hashlib.sha256(repr(frame.schema).encode() + rows).hexdigest()[:24]


def _shape(dtype: pa.DataType) -> str:
    """A type as a Parquet round trip keeps it: string and list flavours alike, list item names dropped."""
    if pa.types.is_struct(dtype):
        return "struct<" + ", ".join(f"{field.name}: {_shape(field.type)}" for field in dtype) + ">"
    if any(is_list(dtype) for is_list in LIST_TYPES):
        return f"list<{_shape(dtype.value_type)}>"
    if pa.types.is_dictionary(dtype):
        return _shape(dtype.value_type)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "string"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return "binary"
    return str(dtype)


def _digest(schema: pa.Schema, rows: int, data_version: str | None) -> bytes:
    """A check of what the page checksums do not cover: the columns and their types, row count, data version."""
    columns = [[field.name, _shape(field.type)] for field in schema]
    return hashlib.sha256(json.dumps([columns, rows, data_version]).encode()).hexdigest()[:24].encode()


def _alive(pid: int) -> bool:
    """Whether a process with this id is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    return True


def _remove_orphans(folder: Path) -> None:
    """Delete temporary files in folder left by writers that were killed before they could rename them."""
    for leftover in folder.glob(".*.tmp"):
        pid = leftover.name.rsplit(".", 2)[-2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def write_frame(frame: pl.DataFrame, path: Path, data_version: str | None = None) -> None:
    """Write a frame to Parquet atomically: a temporary file in the same folder, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path.parent)
    table = frame.to_arrow()
    metadata = {DIGEST_KEY: _digest(table.schema, table.num_rows, data_version)}
    if data_version is not None:
        metadata[VERSION_KEY] = data_version.encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd", write_page_checksum=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        hint = " (the disk is full or the file is over its size limit)" if error.errno in NO_ROOM else ""
        kept = "the previous file is unchanged" if path.exists() else "nothing was written"
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}{hint}; {kept}") from error
    finally:
        temporary.unlink(missing_ok=True)


def read_frame(path: Path) -> tuple[pl.DataFrame, str | None]:
    """Read a frame and the data version stored with it; DamagedFile when it does not read back as written."""
    try:
        with pq.ParquetFile(path, page_checksum_verification=True) as file:
            footer = file.metadata.metadata
            table = file.read()
    except (FileNotFoundError, PermissionError):
        raise
    except (OSError, ValueError, pa.ArrowException) as error:
        raise DamagedFile(path, str(error)) from error
    if not footer:
        raise DamagedFile(path, "its footer has lost the key-value metadata that every file written here has")
    metadata = table.schema.metadata or {}
    version = metadata.get(VERSION_KEY)
    version_text = version.decode(errors="replace") if version is not None else None
    stored = metadata.get(DIGEST_KEY)
    if stored is not None and stored != _digest(table.schema, table.num_rows, version_text):
        raise DamagedFile(path, "its columns, row count or data version do not match the checksum written with it")
    return pl.from_arrow(table.replace_schema_metadata(None)), version_text
