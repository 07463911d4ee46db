"""Parse JSON from users with bounds: nesting depth, digits per number, and repeated keys reported, never raised."""

from __future__ import annotations

import json
import re
from typing import Any

from asasql_resources.domain.limits import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH

# Python refuses to convert integers longer than this (sys.get_int_max_str_digits) and raises a bare ValueError.
_LONG_NUMBER = re.compile(r"-?\d{4000,}")


class JsonProblem(ValueError):
    """JSON text that cannot be used; `line` and `column` (1-based) locate it when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message, self.line, self.column = message, line, column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(message + where)


class JsonObject(dict):
    """A parsed JSON object that remembers the keys it held more than once (the last value is kept)."""

    repeated: tuple[str, ...] = ()


def parse_json(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text; raise JsonProblem for malformed text, nesting past `max_depth`, or an overlong number.

    Text with more than MAX_JSON_CONTAINERS opening brackets (even inside strings) is refused unparsed.
    """
    brackets = text.count("{") + text.count("[")
    if brackets > MAX_JSON_CONTAINERS:
        raise JsonProblem(f"{brackets:,} lists and objects, over the bound of {MAX_JSON_CONTAINERS:,} on reading it")
    try:
        value = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise _too_deep(text, max_depth) from None
    except ValueError as exc:  # an integer longer than Python converts
        match = _LONG_NUMBER.search(text)
        if match is None:
            raise JsonProblem(f"not valid JSON: {exc}") from None
        line, column = _line_column(text, match.start())
        raise JsonProblem(f"a number of {len(match.group()):,} digits: too long to read", line, column) from None
    if depth(value) > max_depth:
        raise _too_deep(text, max_depth)
    return value


def depth(value: object) -> int:
    """How deeply lists and objects nest in a parsed value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate (e.g. from "\\ud800" in JSON), which no UTF-8 file can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    """An object from its key/value pairs, noting keys that repeat."""
    result = JsonObject(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        result.repeated = tuple(dict.fromkeys(key for key, _ in pairs if key in seen or seen.add(key)))
    return result


def _too_deep(text: str, max_depth: int) -> JsonProblem:
    """The error for text nested past max_depth, at the first bracket that goes too deep."""
    level, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            if level > max_depth:
                line, column = _line_column(text, index)
                return JsonProblem(f"lists and objects nest deeper than {max_depth} levels", line, column)
        elif char in "]}":
            level -= 1
    return JsonProblem(f"lists and objects nest deeper than {max_depth} levels")


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
