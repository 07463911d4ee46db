"""Progress lines for long steps: done/total, items per second and time left, in the Dagster log or a terminal."""

import time
from collections.abc import Callable

from asasql_resources.models.sampling import Progress


def progress_line(say: Callable[[str], None], step: str, unit: str) -> Progress:
    """A progress callback that says `step: done/total unit (rate unit/s, about N s left)` through `say`."""
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        rate = done / elapsed
        left = f", about {(total - done) / rate:.0f} s left" if 0 < done < total else ""
        say(f"{step}: {done}/{total} {unit} ({rate:.2f} {unit}/s{left})")

    return report
