"""Bounds on what reading a domain file may cost, and the checks that a path is a readable file within them."""

from __future__ import annotations

import os
from pathlib import Path

# Bytes on disk of each kind of input file; past them the file is refused before it is read.
MAX_WORKBOOK_BYTES = 32 * 2**20
MAX_JSON_BYTES = 16 * 2**20
MAX_YAML_BYTES = 2**20
# Bytes a workbook's zip members may unpack to, together (a zip bomb stops here, before openpyxl parses it).
MAX_UNPACKED_BYTES = 96 * 2**20
# Cells parsed per workbook (every cell the sheets hold, empty or not), and header columns per sheet.
MAX_CELLS = 1_000_000
MAX_COLUMNS = 256
# Characters in one cell: Excel's own limit, so a longer cell was not written by Excel.
MAX_CELL_CHARS = 32_767
# Items in one JSON list file, and issues recorded per file before reading stops.
MAX_JSON_ITEMS = 100_000
# Lists and objects in one JSON text, counted by their opening brackets before it is parsed (each costs memory).
MAX_JSON_CONTAINERS = 1_000_000
MAX_ISSUES = 500
# Nesting of JSON lists and objects: a domain file needs 3, a possible_value cell 2.
MAX_JSON_DEPTH = 32
MAX_CELL_JSON_DEPTH = 8


def file_problem(path: Path, max_bytes: int) -> str | None:
    """Why `path` cannot be read as an input file (missing, a folder, unreadable, too large); None when it can."""
    try:
        if not path.exists():
            return "the file is missing"
        if path.is_dir():
            return "is a folder, not a file"
        if not path.is_file():
            return "is not a regular file"
        size = path.stat().st_size
        if not os.access(path, os.R_OK):
            return "cannot be read (permission denied)"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if size > max_bytes:
        return f"is {size:,} bytes, over the {max_bytes:,}-byte bound on this file"
    return None


def shorten(text: str, limit: int = 80) -> str:
    """Text cut to `limit` characters with an ellipsis, for messages that quote user input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
