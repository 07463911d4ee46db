"""Atomic Parquet storage of polars frames, with the data version and checksums kept in the file, checked on read.

Inside a home that has a secret (`Home.secret`), every file also carries a keyed checksum: an HMAC-SHA256 of the
whole file with the checksum's own bytes zeroed, stored in the footer's key-value metadata. A file written by
anything but the pipeline (which holds the secret) fails it on read.
"""

import errno
import hashlib
import hmac
import json
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from asasql_resources.warehouse.keys import key_for

VERSION_KEY = b"asasql.data_version"
DIGEST_KEY = b"asasql.digest"
MAC_KEY = b"asasql.mac"
MAC_CHARS = 64  # hex digits of an HMAC-SHA256
ZEROED_MAC = b"0" * MAC_CHARS
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
    table = frame.to_arrow()
    metadata = {DIGEST_KEY: _digest(table.schema, table.num_rows, data_version)}
    if data_version is not None:
        metadata[VERSION_KEY] = data_version.encode()
    write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata}), path, key_for(path))


def write_table(table: pa.Table, path: Path, key: bytes | None) -> None:
    """Write an Arrow table atomically, signed with `key` when there is one (its metadata kept, any old MAC not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path.parent)
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != MAC_KEY}
    placeholder = secrets.token_hex(MAC_CHARS // 2).encode()  # random, so that no data value can equal it
    if key is not None:
        metadata[MAC_KEY] = placeholder
    table = table.replace_schema_metadata(metadata)
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd", write_page_checksum=True)
            handle.flush()
            if key is not None:
                _sign(handle, key, placeholder)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        hint = " (the disk is full or the file is over its size limit)" if error.errno in NO_ROOM else ""
        kept = "the previous file is unchanged" if path.exists() else "nothing was written"
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}{hint}; {kept}") from error
    finally:
        temporary.unlink(missing_ok=True)


def _footer_span(data: bytes) -> tuple[int, int]:
    """Where the Parquet footer (file metadata) lies in a file's bytes; ValueError when it is not Parquet."""
    if len(data) < 12 or data[-4:] != b"PAR1":
        raise ValueError("not a Parquet file (no PAR1 magic at its end)")
    (length,) = struct.unpack("<I", data[-8:-4])
    if length > len(data) - 12:
        raise ValueError("its footer length points outside the file")
    return len(data) - 8 - length, len(data) - 8


def _mac_offset(data: bytes, value: bytes) -> int:
    """The offset of the MAC value inside the footer; ValueError unless it is there exactly once."""
    start, end = _footer_span(data)
    needle = MAC_KEY + b"\x18" + bytes([MAC_CHARS]) + value  # thrift compact: the KeyValue's value field, 64 bytes
    found = data.find(needle, start, end)
    if found < 0 or data.find(needle, found + 1, end) >= 0:
        raise ValueError("its keyed checksum is not where the pipeline writes it")
    return found + len(needle) - len(value)


def _mac(key: bytes, data: bytes, offset: int) -> bytes:
    """The HMAC of a file's bytes with the MAC value at `offset` zeroed, as hex."""
    view = memoryview(data)
    digest = hmac.new(key, view[:offset], hashlib.sha256)
    digest.update(ZEROED_MAC)
    digest.update(view[offset + MAC_CHARS :])
    return digest.hexdigest().encode()


def _sign(handle: BinaryIO, key: bytes, placeholder: bytes) -> None:
    """Replace the placeholder in the footer of the file just written to `handle` by its keyed checksum."""
    with open(handle.name, "rb") as reader:
        data = reader.read()
    offset = _mac_offset(data, placeholder)
    handle.seek(offset)
    handle.write(_mac(key, data, offset))
    handle.flush()


def _check_mac(path: Path, data: bytes, footer: dict[bytes, bytes], key: bytes) -> None:
    """DamagedFile unless the file carries a keyed checksum that matches the home's secret."""
    stored = footer.get(MAC_KEY)
    if stored is None:
        raise DamagedFile(
            path, "it has no keyed checksum, so it was not written by this home's pipeline (or predates the secret)"
        )
    try:
        expected = _mac(key, data, _mac_offset(data, stored))
    except ValueError as error:
        raise DamagedFile(path, f"{error}; it was not written by this home's pipeline") from error
    if not hmac.compare_digest(stored, expected):
        raise DamagedFile(
            path,
            "its keyed checksum does not match: it was changed, or written by something other than this "
            "home's pipeline",
        )


def read_table(path: Path, key: bytes | None) -> pa.Table:
    """An Arrow table as written (checksums verified, keyed too when `key` is given); DamagedFile otherwise."""
    data = path.read_bytes()  # FileNotFoundError and PermissionError pass through
    try:
        with pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True) as file:
            footer = file.metadata.metadata
            if key is not None:
                _check_mac(path, data, footer or {}, key)
            table = file.read()
    except DamagedFile:
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
    return table


def read_frame(path: Path) -> tuple[pl.DataFrame, str | None]:
    """Read a frame and the data version stored with it; DamagedFile when it does not read back as written."""
    table = read_table(path, key_for(path))
    version = (table.schema.metadata or {}).get(VERSION_KEY)
    frame = pl.from_arrow(table.replace_schema_metadata(None))
    return frame, version.decode(errors="replace") if version is not None else None
