"""The sandbox's worker process: owns one locked DuckDB connection and runs statements under hard bounds.

Run as a script (`python -I worker.py`), it imports nothing but the standard library and duckdb, so it
starts fast and never inherits a large parent (no torch, no dagster). It reads pickled requests from
stdin and writes pickled replies to stdout, each framed by an 8-byte length. Its address space is
capped with RLIMIT_AS once the instance is open; the parent kills it at the statement's deadline.
The parent also imports this module for the protocol and the lockdown statements it shares.
"""

from __future__ import annotations

import os
import pickle
import resource
import struct
import sys
from typing import Any, BinaryIO

import duckdb

SANDBOX_CATALOG = "sandbox"
HEADER = struct.Struct(">Q")
# Settings that name paths on this machine; emptied so that even a leak shows nothing.
_PATH_SETTINGS = ("home_directory", "extension_directory", "secret_directory")
_FIRST_BATCH = 64  # rows fetched before the first byte check; doubles up to _MAX_BATCH
_MAX_BATCH = 4096


def lockdown_statements(memory_limit: str) -> list[str]:
    """The SET statements that limit and lock a sandbox connection (`memory_limit` already validated)."""
    return [
        f"SET memory_limit = '{memory_limit}'",
        "SET threads = 1",
        "SET temp_directory = ''",
        *(f"SET {name} = ''" for name in _PATH_SETTINGS),  # no spilling to disk: a query that outgrows memory fails
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET allow_community_extensions = false",
        "SET allow_persistent_secrets = false",
        "SET python_enable_replacements = false",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ]


def attach_read_only(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """Attach the DuckDB file `database` read-only as the `sandbox` catalog and make it the default."""
    con.execute("SET temp_directory = ''")  # before any allocation, so the default .tmp is never used
    con.execute(f"ATTACH '{database.replace(chr(39), chr(39) * 2)}' AS {SANDBOX_CATALOG} (READ_ONLY)")
    con.execute(f"USE {SANDBOX_CATALOG}")


def open_instance(database: str, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """A `:memory:` connection with `database` attached read-only, then limited and locked."""
    con = duckdb.connect(":memory:", config={"threads": 1})  # no idle worker threads, each with a stack
    try:
        attach_read_only(con, database)
        for statement in lockdown_statements(memory_limit):
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def cap_address_space(extra_bytes: int) -> int:
    """Limit this process's address space to its current size plus `extra_bytes`; return the limit."""
    limit = _status_bytes("VmSize:") + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit


def run_statement(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int, max_bytes: int) -> dict[str, Any]:
    """Run one statement; the reply holds columns and rows (at most max_rows, max_bytes pickled) or an error."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        return _error(f"engine parse error: {_first_line(error)}", refused=True)
    except Exception as error:  # noqa: BLE001 - e.g. text DuckDB cannot take; a result, not a crash
        return _error(f"{type(error).__name__}: {error}", refused=True)
    # DuckDB's own parser must see what sqlglot saw: one SELECT statement.
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        return _error("DuckDB does not parse it as a single SELECT statement", refused=True)
    try:
        con.execute(sql)
        columns = [column[0] for column in con.description or []]
        rows, truncated = _fetch_capped(con, max_rows, max_bytes)
    except (duckdb.OutOfMemoryException, MemoryError) as error:
        return _error(f"memory limit exceeded: {_first_line(error)}", refused=True, fatal=True)
    except duckdb.PermissionException as error:
        return _error(f"refused by the engine: {_first_line(error)}", refused=True)
    except duckdb.Error as error:
        return _error(str(error).strip(), refused=False)
    except Exception as error:  # noqa: BLE001 - e.g. a value Python cannot hold; a result, not a crash
        return _error(f"{type(error).__name__}: {error}", refused=False)
    if rows is None:
        return _error(f"result limit exceeded: the first row alone is over {max_bytes} bytes", refused=True)
    return {"ok": True, "columns": columns, "rows": rows, "truncated": truncated}


def read_frame(stream: BinaryIO) -> Any | None:
    """The next pickled message on `stream`, or None at its end."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    return pickle.loads(body) if len(body) == size else None


def encode_frame(message: Any) -> bytes:
    """`message` pickled and prefixed with its length."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def main() -> None:
    """Serve requests from stdin until it closes: first the configuration, then one statement each."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the reply channel
    requests = sys.stdin.buffer
    config = read_frame(requests)
    if config is None:
        return
    try:
        con = open_instance(config["database"], config["engine_memory_limit"])
        con.execute("SELECT 1").fetchall()  # warm up before measuring the address space
        limit = cap_address_space(config["extra_address_space"])
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
        _send(channel, {"ready": False, "error_type": type(error).__name__, "error": str(error)})
        return
    _send(channel, {"ready": True, "address_space": limit, "peak_rss": _status_bytes("VmHWM:")})
    while (request := read_frame(requests)) is not None:
        reply = run_statement(con, request["sql"], request["max_rows"], request["max_bytes"])
        reply["peak_rss"] = _status_bytes("VmHWM:")
        try:
            frame = encode_frame(reply)
        except MemoryError:
            frame = encode_frame(_error("memory limit exceeded: no room to send the result", refused=True, fatal=True))
        except Exception as error:  # noqa: BLE001 - e.g. a value pickle cannot take
            frame = encode_frame(_error(f"result cannot be sent: {type(error).__name__}: {error}", refused=False))
        channel.write(frame)
        channel.flush()
        if reply.get("fatal"):
            return  # after running out of memory the process is not trusted to go on; the parent restarts it


def _fetch_capped(con: duckdb.DuckDBPyConnection, max_rows: int, max_bytes: int) -> tuple[list[tuple] | None, bool]:
    """Rows up to max_rows whose pickled size fits max_bytes; None when not even the first row fits."""
    rows: list[tuple] = []
    size = 0
    batch_size = _FIRST_BATCH
    while len(rows) <= max_rows:
        batch = con.fetchmany(min(batch_size, max_rows + 1 - len(rows)))
        if not batch:
            return rows, False
        batch_bytes = len(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        if size + batch_bytes > max_bytes:
            for row in batch:  # the batch does not fit whole: keep the rows that do
                size += len(pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL))
                if size > max_bytes:
                    break
                rows.append(row)
            return (rows or None), True
        rows.extend(batch)
        size += batch_bytes
        batch_size = min(batch_size * 2, _MAX_BATCH)
    return rows[:max_rows], True


def _send(channel: BinaryIO, message: dict[str, Any]) -> None:
    channel.write(encode_frame(message))
    channel.flush()


def _error(message: str, *, refused: bool, fatal: bool = False) -> dict[str, Any]:
    return {"ok": False, "error": message, "refused": refused, "fatal": fatal}


def _status_bytes(field: str) -> int:
    """A size field of /proc/self/status (VmSize:, VmHWM:, ...), in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


if __name__ == "__main__":
    main()
