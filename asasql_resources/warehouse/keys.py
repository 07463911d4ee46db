"""Finding the per-home secret that keys a Parquet file's checksum."""

import string
from pathlib import Path

from asasql_resources.warehouse.home import DATA_FOLDERS, SECRET_FILE

KEY_BYTES = 32


class BadSecret(ValueError):
    """A home secret file that cannot be used as a key."""


def read_key(secret: Path) -> bytes | None:
    """The key stored in a secret file (hex text), None when the file does not exist; BadSecret when unusable."""
    try:
        text = secret.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise BadSecret(f"{secret}: cannot read the home's secret ({error})") from error
    if len(text) != 2 * KEY_BYTES or not set(text) <= set(string.hexdigits):
        raise BadSecret(
            f"{secret}: not a secret written by asasql ({2 * KEY_BYTES} hex digits expected); delete it and run "
            "the pipeline to make a new one, which signs the files present then (see the README)"
        )
    return bytes.fromhex(text)


def key_for(path: Path) -> bytes | None:
    """The secret of the home holding `path` (the folder above its parquet/ledger/cache/models folder), or None."""
    for folder in path.absolute().parents:
        if folder.name in DATA_FOLDERS:
            key = read_key(folder.parent / SECRET_FILE)
            if key is not None:
                return key
    return None
