"""The reference annotator for simulations: a candidate is correct when its result matches the gold SQL's."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from asasql_resources.sandbox import ExecResult, SandboxSession

SIGNIFICANT_DIGITS = 9
LABELS_SCHEMA: dict[str, pl.DataType] = {"candidate_id": pl.String(), "label": pl.Boolean(), "reason": pl.String()}
NO_REFERENCE, MATCH, MISMATCH = "no_reference", "match", "mismatch"
GOLD_FAILED, CANDIDATE_FAILED = "gold_failed", "candidate_failed"
# One shared NaN: tuples and Counter compare by identity first, so NaN equals NaN after normalising.
_NAN = float("nan")


def results_match(candidate: ExecResult, gold: ExecResult, ordered: bool) -> bool:
    """Whether the candidate's result set equals the gold's, under the comparison rule that evaluation reuses.

    The rule:
    - Both statements must have run (`ok`), and neither or both results be truncated by the row cap
      (two truncated results are compared on the rows fetched).
    - Column names are ignored; the number of columns must be equal.
    - Rows are compared as a multiset (order ignored, duplicates counted) unless `ordered`, when the
      sequences must be equal (use `order_matters` on the gold SQL).
    - Values are normalised first: a float or Decimal that is a whole number (below 2**53) becomes that
      integer, other floats and Decimals are rounded to 9 significant digits, NaN equals NaN; booleans
      equal 1/0 as in Python; a date equals the same day's midnight timestamp; time-zone-aware timestamps
      are compared in UTC; None equals None; lists and structs are compared element by element.
      Text is compared exactly.
    """
    if not (candidate.ok and gold.ok) or candidate.truncated != gold.truncated:
        return False
    if len(candidate.columns) != len(gold.columns):
        return False
    candidate_rows = [normalize_row(row) for row in candidate.rows]
    gold_rows = [normalize_row(row) for row in gold.rows]
    if ordered:
        return candidate_rows == gold_rows
    return Counter(candidate_rows) == Counter(gold_rows)


def normalize_row(row: tuple[object, ...]) -> tuple[object, ...]:
    """A result row with every value normalised as `results_match` documents."""
    return tuple(normalize_value(value) for value in row)


def normalize_value(value: object) -> object:
    """One value normalised as `results_match` documents; the result is hashable."""
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float | Decimal):
        return _number(float(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, list | tuple):
        return tuple(normalize_value(item) for item in value)
    if isinstance(value, dict):
        return tuple((key, normalize_value(item)) for key, item in value.items())
    return value


def order_matters(sql: str, dialect: str) -> bool:
    """True when the statement's outermost query has an ORDER BY; False when it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return False
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree.args.get("order") is not None


def reference_labels(
    pairs: pl.DataFrame, gold: Mapping[str, str], session: SandboxSession, dialect: str
) -> pl.DataFrame:
    """Label each (candidate_id, question, sql) by execution match against the gold SQL of its question.

    label is True on "match", False on "mismatch" or "candidate_failed: ...", and null on "no_reference"
    (the question has no gold SQL) or "gold_failed: ..." (the gold SQL does not run). Questions are
    matched after stripping surrounding whitespace. Each distinct gold SQL runs once.
    """
    references = {question.strip(): sql for question, sql in gold.items()}
    gold_results: dict[str, tuple[ExecResult, bool]] = {}
    records = []
    for row in pairs.select("candidate_id", "question", "sql").iter_rows(named=True):
        gold_sql = references.get((row["question"] or "").strip())
        if gold_sql is None:
            label, reason = None, NO_REFERENCE
        else:
            if gold_sql not in gold_results:
                gold_results[gold_sql] = (session.execute(gold_sql, dialect), order_matters(gold_sql, dialect))
            label, reason = _compare(row["sql"], *gold_results[gold_sql], session, dialect)
        records.append({"candidate_id": row["candidate_id"], "label": label, "reason": reason})
    return pl.DataFrame(records, schema=LABELS_SCHEMA)


def _compare(
    sql: str, gold: ExecResult, ordered: bool, session: SandboxSession, dialect: str
) -> tuple[bool | None, str]:
    if not gold.ok:
        return None, f"{GOLD_FAILED}: {gold.error}"
    candidate = session.execute(sql, dialect)
    if not candidate.ok:
        return False, f"{CANDIDATE_FAILED}: {candidate.error}"
    return (True, MATCH) if results_match(candidate, gold, ordered) else (False, MISMATCH)


def _number(value: float) -> object:
    if math.isnan(value):
        return _NAN
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else value
