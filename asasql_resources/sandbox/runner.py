"""Executes checked SQL in a worker process under a hard deadline, an address-space cap and result caps."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb

from asasql_resources.sandbox.policy import check_sql
from asasql_resources.sandbox.process import WorkerDied, WorkerProcess, WorkerTimeout, process_peak_rss
from asasql_resources.sandbox.snapshot import snapshot_tables

DEFAULT_MAX_BYTES = 8 << 20
# DuckDB's own memory_limit is this share of the process's bound, so that what DuckDB tracks fails
# cleanly with an error before the address-space cap (which also catches what it does not track) is hit.
ENGINE_SHARE = 0.75
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one statement; `refused` marks a policy refusal or a hit limit; `truncated` a row or byte cap."""

    ok: bool
    columns: list[str]
    rows: list[tuple]
    row_count: int
    elapsed_ms: float
    error: str | None = None
    refused: bool = False
    truncated: bool = False


def memory_bytes(memory_limit: str) -> int:
    """Bytes in a DuckDB-style size such as '512MB' (10**6) or '1GiB' (2**30); ValueError if malformed."""
    match = _MEMORY.fullmatch(memory_limit.strip().lower())
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(f"memory_limit must look like '512MB' or '1GiB', got {memory_limit!r}")
    size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if size < 16 << 20:
        raise ValueError(f"memory_limit must be at least 16MiB, got {memory_limit!r}")
    return size


class _Workers:
    """The session's worker and its snapshot folder, held apart from the session so a finalizer can free them."""

    def __init__(self, snapshot_dir: Path | None) -> None:
        self.current: WorkerProcess | None = None
        self.snapshot_dir = snapshot_dir
        self.peak_rss_bytes = 0
        self.started = 0

    def retire(self) -> None:
        """Kill the current worker (if any), keeping its peak memory."""
        if self.current is not None:
            self.current.close(grace_s=0.0)
            self.peak_rss_bytes = max(self.peak_rss_bytes, self.current.peak_rss_bytes or 0)
            self.current = None

    def free(self) -> None:
        """End the worker gracefully and delete the snapshot folder."""
        if self.current is not None:
            self.current.close()
            self.peak_rss_bytes = max(self.peak_rss_bytes, self.current.peak_rss_bytes or 0)
            self.current = None
        if self.snapshot_dir is not None:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)
            self.snapshot_dir = None


class SandboxSession:
    """Runs untrusted statements in a worker process that owns one locked, read-only DuckDB instance.

    `source` is a DuckDB database file (attached read-only, any size) or a connection whose tables are
    copied into a private file first (the session then owns and closes the connection). Each statement
    has a hard wall-clock deadline: the worker is killed at `timeout_s` and restarted for the next one,
    so planning, binding and result conversion are bounded too. The worker's address space may grow by
    at most `memory_limit`; results are capped at `max_rows` rows and `max_bytes` pickled bytes.

    Thread-safety: a session runs one statement at a time; calls from several threads are serialized
    by a lock. Close it (or use it as a context manager) to end the worker.
    """

    def __init__(
        self,
        source: duckdb.DuckDBPyConnection | Path | str,
        *,
        timeout_s: float = 2.0,
        max_rows: int = 1000,
        max_bytes: int = DEFAULT_MAX_BYTES,
        memory_limit: str = "512MB",
    ) -> None:
        """Start the worker on `source`; raise if its database cannot be opened."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_rows < 0:
            raise ValueError(f"max_rows must be at least 0, got {max_rows}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.memory_limit_bytes = memory_bytes(memory_limit)
        self._lock = threading.Lock()
        self._closed = False
        if isinstance(source, (str, os.PathLike)):
            self._database = Path(source)
            if not self._database.is_file():
                raise FileNotFoundError(f"no database file at {self._database}")
            self._workers = _Workers(None)
        else:
            folder = Path(tempfile.mkdtemp(prefix="asasql-sandbox-"))
            self._workers = _Workers(folder)
            try:
                self._database = snapshot_tables(source, folder / "instance.duckdb")
            except BaseException:
                self._workers.free()
                raise
            finally:
                source.close()
        self._finalizer = weakref.finalize(self, self._workers.free)
        self._start()  # eagerly, so that a database that cannot be opened fails here

    @property
    def peak_rss_bytes(self) -> int:
        """The highest resident memory any of this session's workers reached, in bytes."""
        current = self._workers.current
        live = process_peak_rss(current.pid) if current is not None and current.alive() else 0
        return max(self._workers.peak_rss_bytes, live)

    @property
    def worker_pid(self) -> int | None:
        """The process id of the running worker, if one runs."""
        current = self._workers.current
        return current.pid if current is not None and current.alive() else None

    @property
    def workers_started(self) -> int:
        """How many worker processes this session has started (one more after each kill)."""
        return self._workers.started

    def execute(self, sql: str, dialect: str = "duckdb") -> ExecResult:
        """Check `sql` (written in `dialect`) and run it; every failure is a result, never an exception."""
        started = time.perf_counter()
        try:
            return self._execute(sql, dialect, started)
        except Exception as error:  # noqa: BLE001 - a result, never an exception
            return _failed(started, f"sandbox failure: {type(error).__name__}: {error}", refused=False)

    def close(self) -> None:
        """End the worker and delete any private copy; later calls to `execute` return an error result."""
        with self._lock:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> SandboxSession:
        """Return the session itself."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session."""
        self.close()

    def _execute(self, sql: str, dialect: str, started: float) -> ExecResult:
        check = check_sql(sql, dialect)
        checked_s = time.perf_counter() - started
        if not check.ok or check.sql is None:
            return _failed(started, check.reason or "refused", refused=True)
        try:
            check.sql.encode("utf-8")
        except UnicodeEncodeError as error:
            return _failed(started, f"not valid text: {error.reason} at position {error.start}", refused=True)
        with self._lock:
            if self._closed:
                return _failed(started, "session is closed", refused=False)
            try:
                worker = self._start()
            except Exception as error:  # noqa: BLE001 - e.g. the database file went away
                return _failed(started, f"sandbox worker could not start: {error}", refused=False)
            # The check ran in this process; what is left of the time limit bounds the worker, counted
            # from when it is ready (a restart after a kill is not the statement's time).
            budget = self.timeout_s - checked_s
            request = {"sql": check.sql, "max_rows": self.max_rows, "max_bytes": self.max_bytes}
            try:
                reply = worker.request(request, time.monotonic() + budget)
            except WorkerTimeout:
                self._workers.retire()
                return _failed(started, f"time limit exceeded: stopped after {self.timeout_s:g} s", refused=True)
            except WorkerDied as error:
                self._workers.retire()
                # The worker only dies mid-statement when an allocation past its address-space cap aborts it.
                return _failed(started, f"memory limit exceeded: {error}", refused=True)
            if reply.get("fatal"):
                self._workers.retire()
        if not reply["ok"]:
            return _failed(started, str(reply["error"]), refused=bool(reply["refused"]))
        rows = reply["rows"]
        return ExecResult(
            ok=True,
            columns=reply["columns"],
            rows=rows,
            row_count=len(rows),
            elapsed_ms=_elapsed_ms(started),
            truncated=reply["truncated"],
        )

    def _start(self) -> WorkerProcess:
        """The running worker, started anew if there is none (the first time, or after a kill)."""
        current = self._workers.current
        if current is not None and current.alive():
            return current
        self._workers.retire()
        self._workers.current = WorkerProcess(
            self._database,
            engine_memory_limit=f"{int(self.memory_limit_bytes * ENGINE_SHARE) >> 20}MiB",
            extra_address_space=self.memory_limit_bytes,
            max_reply_bytes=self.max_bytes,
        )
        self._workers.started += 1
        return self._workers.current


def _failed(started: float, error: str, *, refused: bool) -> ExecResult:
    elapsed_ms = _elapsed_ms(started)
    return ExecResult(ok=False, columns=[], rows=[], row_count=0, elapsed_ms=elapsed_ms, error=error, refused=refused)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
