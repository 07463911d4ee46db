"""Creating a home's secret, and signing the files of a home made before it had one (trust on first use)."""

import logging
import os
import secrets

from asasql_resources.warehouse.home import DATA_FOLDERS, Home
from asasql_resources.warehouse.keys import KEY_BYTES, read_key
from asasql_resources.warehouse.lock import home_lock
from asasql_resources.warehouse.store import DamagedFile, read_table, write_table

LOG = logging.getLogger(__name__)


def ensure_key(home: Home) -> bytes:
    """The home's secret, created (mode 0600) when the home has none; creates the home's root folder."""
    key = read_key(home.secret)
    if key is not None:
        return key
    with home_lock(home):
        return ensure_key_locked(home)


def ensure_key_locked(home: Home) -> bytes:
    """ensure_key for a caller that holds home_lock already."""
    key = read_key(home.secret)
    if key is not None:
        return key
    key = secrets.token_bytes(KEY_BYTES)
    signed = sign_existing(home, key)
    _write_secret(home, key)
    if signed:
        LOG.warning("%s had no secret: made one and signed the %d Parquet file(s) already there", home.root, signed)
    return key


def sign_existing(home: Home, key: bytes) -> int:
    """Re-sign with `key` every Parquet file of the home that passes the unkeyed checks; how many were signed."""
    signed = 0
    for folder in DATA_FOLDERS:
        root = home.root / folder
        for path in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
            if path.is_symlink() or not path.is_file():
                continue
            try:
                write_table(read_table(path, None), path, key)
            except (DamagedFile, FileNotFoundError) as error:
                LOG.warning("%s is left unsigned (%s); it will be refused until it is written again", path, error)
                continue
            signed += 1
    return signed


def _write_secret(home: Home, key: bytes) -> None:
    """Write the secret atomically, readable by its owner only."""
    temporary = home.root / f".secret.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, home.secret)
    finally:
        temporary.unlink(missing_ok=True)
