"""Files the CLI writes and reads for the user: OUT checked before the work and written atomically, and --file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from asasql_resources.domain.errors import json_kind
from asasql_resources.domain.jsontext import JsonProblem, lone_surrogate, parse_json
from asasql_resources.domain.limits import MAX_JSON_BYTES, file_problem, shorten


class OutputError(OSError):
    """OUT cannot be written; the message says why, naming the path."""


class InputError(ValueError):
    """An input file or argument is malformed; the message locates the problem."""


def check_writable(out: Path) -> None:
    """Raise OutputError unless `out` can be written (its folder made if needed); run before any long work."""
    if out.name in ("", ".", ".."):
        raise OutputError(f"cannot write {out}: give a file name, not a folder")
    try:
        if out.is_dir():
            raise OutputError(f"cannot write {out}: it is a folder; give a file path")
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(handle)
        os.unlink(probe)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {_reason(exc, out)}") from None


def write_json(records: list[dict[str, Any]], out: Path, lines: bool) -> None:
    """Write records as JSON Lines or one JSON array, atomically (a temporary sibling, fsync, then rename)."""
    check_writable(out)
    temporary: Path | None = None
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        temporary = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as stream:
            if lines:
                stream.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
            else:
                json.dump(records, stream, ensure_ascii=False, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, out)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {_reason(exc, out)}") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def read_questions(file: Path) -> list[str]:
    """The `question` of every object in a JSON array file; InputError names the item and key of a bad one."""
    problem = file_problem(file, MAX_JSON_BYTES)
    if problem is not None:
        raise InputError(f"{file}: {problem}")
    try:
        items = parse_json(file.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except (OSError, JsonProblem) as exc:
        raise InputError(f"{file}: {exc}") from None
    if not isinstance(items, list):
        raise InputError(f'{file}: must be a JSON list of {{"question": ...}} objects, not a JSON {json_kind(items)}')
    if not items:
        raise InputError(f"{file}: the list holds no questions")
    return [_question(file, index, item) for index, item in enumerate(items, start=1)]


def check_question(text: str, where: str) -> str:
    """The question, or InputError when it is blank or not text (a lone surrogate from undecodable bytes)."""
    if not text.strip():
        raise InputError(f"{where}: empty question")
    surrogate = lone_surrogate(text)
    if surrogate is not None:
        raise InputError(f"{where}: not UTF-8 text (an undecodable character at position {surrogate + 1})")
    return text


def _question(file: Path, index: int, item: object) -> str:
    """The question of one item."""
    where = f"{file} item {index}"
    if not isinstance(item, dict):
        raise InputError(f'{where}: must be a JSON object with a "question", not a JSON {json_kind(item)}')
    if "question" in getattr(item, "repeated", ()):
        raise InputError(f"{where}, key question: the key appears more than once")
    value = item.get("question")
    if not isinstance(value, str) or not value.strip():
        shown = "missing" if value is None else f"a JSON {json_kind(value)}" if not isinstance(value, str) else "empty"
        raise InputError(f"{where}, key question: expected a non-empty string, found {shorten(shown)}")
    return check_question(value, f"{where}, key question")


def _reason(exc: OSError, out: Path) -> str:
    """Why writing failed, in words: the OS's reason, and the path it was about when not OUT itself."""
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, NotADirectoryError | FileExistsError) and exc.filename not in (None, str(out)):
        return f"{reason}: {exc.filename} is a file, so it cannot hold {out.name}"
    return f"{reason}" + (f" ({exc.filename})" if exc.filename and exc.filename != str(out) else "")
