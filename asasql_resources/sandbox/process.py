"""The parent's handle on one worker process: start it, send a statement, wait up to a deadline, kill it."""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from asasql_resources.sandbox import worker
from asasql_resources.sandbox.worker import HEADER, encode_frame

WORKER_SCRIPT = Path(worker.__file__).resolve()
START_TIMEOUT_S = 120.0  # importing duckdb on a loaded machine can take seconds
_FRAME_SLACK = 1 << 20  # a reply may exceed the row bytes by its columns and pickle framing


class WorkerTimeout(Exception):
    """The worker did not answer before the deadline (it has been killed)."""


class WorkerDied(Exception):
    """The worker ended, or sent something that is not a reply, before answering."""


class WorkerProcess:
    """One running worker: a `python -I worker.py` child with the database attached, bounded in memory."""

    def __init__(
        self, database: Path, *, engine_memory_limit: str, extra_address_space: int, max_reply_bytes: int
    ) -> None:
        """Start the worker on `database` and wait until its instance is open; raise what it raised if not."""
        self.max_reply_bytes = max_reply_bytes + _FRAME_SLACK
        self.peak_rss_bytes: int | None = None
        # -I: no PYTHON* variables, no user site, and not the script's folder (whose resource.py
        # would shadow the standard library's). cwd and HOME point nowhere useful to a query.
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-I", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd="/",
            # One malloc arena: glibc reserves address space for each thread's arena up front, which the
            # process could later fill without ever passing the address-space cap measured at start.
            env={"HOME": "/nonexistent", "PATH": os.defpath, "MALLOC_ARENA_MAX": "1"},
        )
        config = {
            "database": str(database),
            "engine_memory_limit": engine_memory_limit,
            "extra_address_space": extra_address_space,
        }
        try:
            ready = self.request(config, time.monotonic() + START_TIMEOUT_S)
        except (WorkerTimeout, WorkerDied) as error:
            raise RuntimeError(f"sandbox worker could not start: {error}") from None
        if not ready.get("ready"):
            self.kill()
            raise _start_error(str(ready.get("error_type")), str(ready.get("error")))
        self.address_space_limit: int = ready["address_space"]

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._proc.pid

    def alive(self) -> bool:
        """Whether the worker is still running."""
        return self._proc.returncode is None and not self._reap(block=False)

    def request(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send `message` and return the reply; past `deadline` (monotonic) kill the worker and raise."""
        stdin = self._proc.stdin
        if stdin is None or not self.alive():
            raise WorkerDied(self._ended())
        try:
            stdin.write(encode_frame(message))
            stdin.flush()
        except OSError:
            raise WorkerDied(self._ended()) from None
        header = self._read(HEADER.size, deadline)
        (size,) = HEADER.unpack(header)
        if size > self.max_reply_bytes:
            self.kill()
            raise WorkerDied(f"reply of {size} bytes is over the cap")
        try:
            reply = pickle.loads(self._read(size, deadline))  # noqa: S301 - our own worker's reply
        except (pickle.UnpicklingError, EOFError, MemoryError) as error:
            self.kill()
            raise WorkerDied(f"unreadable reply: {type(error).__name__}") from None
        if not isinstance(reply, dict):
            self.kill()
            raise WorkerDied("unreadable reply")
        self._note_peak(int(reply.pop("peak_rss", 0)))
        return reply

    def close(self, grace_s: float = 2.0) -> None:
        """Ask the worker to end (close its stdin); kill it if it has not ended after `grace_s`."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + grace_s
        while self._proc.returncode is None and time.monotonic() < deadline:
            if not self._reap(block=False):
                time.sleep(0.005)
        self.kill()

    def kill(self) -> None:
        """Kill the worker now (if it still runs) and reap it, keeping its peak resident memory."""
        if self._proc.returncode is None:
            # VmHWM, not the kernel's rusage: a child's ru_maxrss counts the parent it was forked from.
            self._note_peak(process_peak_rss(self._proc.pid))
            try:
                self._proc.kill()
            except ProcessLookupError:
                pass
            self._reap(block=True)
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass

    def _read(self, size: int, deadline: float) -> bytes:
        """Exactly `size` bytes of the reply channel, or kill the worker at the deadline or raise at its end."""
        stdout = self._proc.stdout
        if stdout is None:
            raise WorkerDied("no reply channel")
        fd = stdout.fileno()
        chunks: list[bytes] = []
        wanted = size
        while wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.kill()
                raise WorkerTimeout
            chunk = os.read(fd, min(wanted, 1 << 20))
            if not chunk:
                raise WorkerDied(self._ended())
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)

    def _reap(self, *, block: bool) -> bool:
        """Reap the worker if it has ended (waiting for it if `block`); whether it had ended."""
        try:
            pid, status = os.waitpid(self._proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere already
            self._proc.poll()
            return True
        if pid == 0:
            return False
        self._proc.returncode = os.waitstatus_to_exitcode(status)
        return True

    def _note_peak(self, peak: int) -> None:
        self.peak_rss_bytes = max(self.peak_rss_bytes or 0, peak)

    def _ended(self) -> str:
        """How the worker ended, once it has."""
        deadline = time.monotonic() + 1.0  # it closed the channel: let it finish dying to learn why
        while self._proc.returncode is None and not self._reap(block=False) and time.monotonic() < deadline:
            time.sleep(0.005)
        self.kill()
        code = self._proc.returncode
        if code is not None and code < 0:
            return f"the worker was ended by signal {-code}"
        return f"the worker ended with exit status {code}"


def process_peak_rss(pid: int) -> int:
    """A running process's peak resident memory (VmHWM), in bytes; 0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _start_error(error_type: str, message: str) -> Exception:
    """The exception the worker raised while opening the instance, as the same duckdb type where it is one."""
    kind = getattr(duckdb, error_type, None)
    if isinstance(kind, type) and issubclass(kind, duckdb.Error):
        return kind(message)
    return RuntimeError(f"sandbox worker could not open the database: {error_type}: {message}")
