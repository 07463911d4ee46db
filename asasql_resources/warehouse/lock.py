"""One lock per home, taken by whoever rebuilds its views or creates its secret."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from asasql_resources.warehouse.home import Home


@contextmanager
def home_lock(home: Home) -> Iterator[None]:
    """Serialise view rebuilds and secret creation across processes (creates the home's root folder)."""
    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.root / ".warehouse.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
