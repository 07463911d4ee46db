"""Read the JSON files of a domain: data_sample.json, gold_bank.json and test_set.json."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import polars as pl

from asasql_resources.domain.errors import DomainIssue, error, json_kind
from asasql_resources.domain.jsontext import JsonProblem, lone_surrogate, parse_json
from asasql_resources.domain.limits import MAX_ISSUES, MAX_JSON_BYTES, MAX_JSON_ITEMS, file_problem, shorten

SAMPLES_FILE = "data_sample.json"
GOLD_BANK_FILE = "gold_bank.json"
TEST_SET_FILE = "test_set.json"

SAMPLE_TEXT_KEYS = ("origin_query", "sql", "table_name", "table", "column")
SAMPLES_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Int64(),
    **{key: pl.String() for key in SAMPLE_TEXT_KEYS},
    "label": pl.Boolean(),
}
PAIRS_SCHEMA: dict[str, pl.DataType] = {
    "question": pl.String(),
    "sql": pl.String(),
    "category": pl.String(),
    "split": pl.String(),
}
# A test question's split: "seen" (its family also feeds the gold bank or samples) or "unseen" (written apart).
SPLITS = ("seen", "unseen")

_TRUE_WORDS = frozenset({"true", "1", "correct", "yes"})
_FALSE_WORDS = frozenset({"false", "0", "incorrect", "no"})
# Sample keys that must be present but may hold empty text.
_MAY_BE_EMPTY_SAMPLE_KEYS = ("table", "column")

Item = dict[str, object]


def parse_label(value: object) -> bool:
    """Read a label: true/false, 1/0, or the words true/false, correct/incorrect, yes/no (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise ValueError(f"cannot read {_show(value)} as a boolean")


def read_samples(
    path: Path, tables: Collection[str] | None, *, fold_case: bool = True
) -> tuple[pl.DataFrame, list[DomainIssue]]:
    """Read data_sample.json; `tables` (the catalog's tables, or None to skip the check) bounds table_name.

    With fold_case (the dialect folds unquoted identifiers), a table_name matches in any case and is stored as
    the catalog spells it.
    """
    items, issues = read_json_items(path)
    if items is not None and not items:
        issues.append(error(path.name, "the file holds no samples"))
    records = []
    for index, item in items or []:
        if _stopped(path.name, index, issues):
            break
        record = _sample_record(path.name, index, item, tables, issues, fold_case)
        if record is not None:
            records.append(record)
    return pl.DataFrame(records, schema=SAMPLES_SCHEMA), issues


def read_pairs(path: Path) -> tuple[pl.DataFrame, list[DomainIssue]]:
    """Read a list of question/sql pairs with an optional category (gold_bank.json, test_set.json)."""
    items, issues = read_json_items(path)
    records = []
    for index, item in items or []:
        if _stopped(path.name, index, issues):
            break
        before = len(issues)
        record = {
            "question": _text(path.name, index, item, "question", issues),
            "sql": _text(path.name, index, item, "sql", issues),
            "category": _text(path.name, index, item, "category", issues, optional=True) or None,
            "split": _split(path.name, index, item, issues),
        }
        if len(issues) == before:
            records.append(record)
    return pl.DataFrame(records, schema=PAIRS_SCHEMA), issues


def read_json_items(path: Path) -> tuple[list[tuple[int, Item]] | None, list[DomainIssue]]:
    """The objects of a JSON list file with their 1-based item numbers; None when the file is not such a list."""
    problem = file_problem(path, MAX_JSON_BYTES)
    if problem is not None:
        return None, [error(path.name, problem)]
    try:
        data = parse_json(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return None, [error(path.name, f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return None, [error(path.name, f"cannot be read: {exc.strerror or exc}")]
    except JsonProblem as exc:
        return None, [error(path.name, str(exc))]
    if not isinstance(data, list):
        return None, [error(path.name, f"must be a JSON list of objects, not a JSON {json_kind(data)}")]
    if len(data) > MAX_JSON_ITEMS:
        return None, [error(path.name, f"holds {len(data):,} items, over the bound of {MAX_JSON_ITEMS:,}")]
    issues: list[DomainIssue] = []
    for index, item in enumerate(data, start=1):
        if _stopped(path.name, index, issues):
            break
        if not isinstance(item, dict):
            issues.append(error(path.name, f"must be a JSON object, not a JSON {json_kind(item)}", row=index))
        for key in getattr(item, "repeated", ()):
            message = "the key appears more than once in the object (which value is meant?)"
            issues.append(error(path.name, message, row=index, column=shorten(key, 40)))
    return [(index, item) for index, item in enumerate(data, start=1) if isinstance(item, dict)], issues


def _stopped(file: str, index: int, issues: list[DomainIssue]) -> bool:
    """True (after saying so) once a file has MAX_ISSUES issues: the rest of it is not read."""
    if len(issues) < MAX_ISSUES:
        return False
    issues.append(error(file, f"stopped reading after {MAX_ISSUES} issues: fix these first", row=index))
    return True


def _split(file: str, index: int, item: Item, issues: list[DomainIssue]) -> str | None:
    """The item's split (seen or unseen; None when absent), or None after recording why it is not one."""
    value = item.get("split")
    if value is None:
        return None
    if value not in SPLITS:
        issues.append(
            error(file, f"split must be one of {', '.join(SPLITS)}, not {_show(value)}", row=index, column="split")
        )
        return None
    return value


def split_table_names(table_name: str) -> list[str]:
    """The tables of a sample: a multi-table sample lists them separated by commas."""
    return [name.strip() for name in table_name.split(",") if name.strip()]


def _sample_record(
    file: str, index: int, item: Item, tables: Collection[str] | None, issues: list[DomainIssue], fold_case: bool
) -> dict[str, object] | None:
    """One normalised sample, or None after recording why the item is not one."""
    before = len(issues)
    record: dict[str, object] = {"sample_id": index - 1}
    for key in SAMPLE_TEXT_KEYS:
        record[key] = _text(file, index, item, key, issues, allow_empty=key in _MAY_BE_EMPTY_SAMPLE_KEYS)
    if tables is not None:
        spelled = {table.lower(): table for table in tables} if fold_case else {table: table for table in tables}
        named = split_table_names(str(record["table_name"] or ""))
        for table_name in named:
            if (table_name.lower() if fold_case else table_name) not in spelled:
                issues.append(
                    error(file, f"table '{table_name}' is not in the catalog", row=index, column="table_name")
                )
        if (
            fold_case
            and all(spelled.get(name.lower()) for name in named)
            and any(spelled[n.lower()] != n for n in named)
        ):
            record["table_name"] = ",".join(spelled[name.lower()] for name in named)
    record["label"] = _label(file, index, item, issues)
    return record if len(issues) == before else None


def _label(file: str, index: int, item: Item, issues: list[DomainIssue]) -> bool | None:
    """The item's label as a boolean, or None after recording why it cannot be read."""
    if "label" not in item:
        issues.append(error(file, "missing key", row=index, column="label"))
        return None
    try:
        return parse_label(item["label"])
    except ValueError as exc:
        issues.append(error(file, str(exc), row=index, column="label"))
        return None


def _text(
    file: str,
    index: int,
    item: Item,
    key: str,
    issues: list[DomainIssue],
    *,
    optional: bool = False,
    allow_empty: bool = False,
) -> str:
    """The stripped text under `key`: present unless optional, and non-empty unless optional or allow_empty."""
    if key not in item:
        if not optional:
            issues.append(error(file, "missing key", row=index, column=key))
        return ""
    value = item[key]
    if value is not None and not isinstance(value, str):
        issues.append(error(file, f"must be a string, not a JSON {json_kind(value)}", row=index, column=key))
        return ""
    text = (value or "").strip()
    surrogate = lone_surrogate(text)
    if surrogate is not None:
        message = f"holds a lone surrogate (\\u{ord(text[surrogate]):04x}) at character {surrogate + 1}: not text"
        issues.append(error(file, message, row=index, column=key))
        return ""
    if not text and not (optional or allow_empty):
        message = "empty" if value is not None else "null where text is required"
        issues.append(error(file, message, row=index, column=key))
    return text


def _show(value: object) -> str:
    """A value as a user wrote it: strings quoted, other JSON values as JSON."""
    return shorten(repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
