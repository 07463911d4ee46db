"""Executes checked SQL on a locked connection under a time limit and a row cap."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

import duckdb

from asasql_resources.sandbox.policy import check_sql


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one statement; `refused` marks a policy refusal or a hit limit."""

    ok: bool
    columns: list[str]
    rows: list[tuple]
    row_count: int
    elapsed_ms: float
    error: str | None = None
    refused: bool = False
    truncated: bool = False


class SandboxSession:
    """Runs untrusted statements on one locked connection (see `instance.build_instance`).

    Thread-safety: a session runs one statement at a time. Use it from one thread at a time;
    calls from several threads are serialized by a lock, so that the time limit of one statement
    can never interrupt another. Close it (or use it as a context manager) to free the instance.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, timeout_s: float = 2.0, max_rows: int = 1000) -> None:
        """Wrap `con`, which the session owns from now on and closes on `close()`."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_rows < 0:
            raise ValueError(f"max_rows must be at least 0, got {max_rows}")
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._con = con
        self._lock = threading.Lock()
        self._closed = False

    def execute(self, sql: str, dialect: str = "duckdb") -> ExecResult:
        """Check `sql` (written in `dialect`) and run it; every failure is a result, never an exception."""
        started = time.perf_counter()
        check = check_sql(sql, dialect)
        if not check.ok or check.sql is None:
            return _failed(started, check.reason or "refused", refused=True)
        with self._lock:
            if self._closed:
                return _failed(started, "session is closed", refused=False)
            return self._run(check.sql, started)

    def close(self) -> None:
        """Close the connection; later calls to `execute` return an error result."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()

    def __enter__(self) -> SandboxSession:
        """Return the session itself."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session."""
        self.close()

    def _run(self, sql: str, started: float) -> ExecResult:
        con = self._con
        # DuckDB's own parser must see what sqlglot saw: one SELECT statement.
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as error:
            return _failed(started, f"engine parse error: {_first_line(error)}", refused=True)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            return _failed(started, "DuckDB does not parse it as a single SELECT statement", refused=True)
        timer = threading.Timer(self.timeout_s, con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            con.execute(sql)
            columns = [column[0] for column in con.description or []]
            rows = con.fetchmany(self.max_rows + 1)
        except duckdb.InterruptException:
            return _failed(started, f"time limit exceeded: stopped after {self.timeout_s:g} s", refused=True)
        except duckdb.OutOfMemoryException as error:
            return _failed(started, f"memory limit exceeded: {_first_line(error)}", refused=True)
        except duckdb.PermissionException as error:
            return _failed(started, f"refused by the engine: {_first_line(error)}", refused=True)
        except duckdb.Error as error:
            return _failed(started, str(error).strip(), refused=False)
        except Exception as error:  # noqa: BLE001 - e.g. a value Python cannot hold; a result, not a crash
            return _failed(started, f"{type(error).__name__}: {error}", refused=False)
        finally:
            timer.cancel()
            timer.join()
        truncated = len(rows) > self.max_rows
        rows = rows[: self.max_rows]
        return ExecResult(
            ok=True,
            columns=columns,
            rows=rows,
            row_count=len(rows),
            elapsed_ms=_elapsed_ms(started),
            truncated=truncated,
        )


def _failed(started: float, error: str, *, refused: bool) -> ExecResult:
    elapsed_ms = _elapsed_ms(started)
    return ExecResult(ok=False, columns=[], rows=[], row_count=0, elapsed_ms=elapsed_ms, error=error, refused=refused)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
