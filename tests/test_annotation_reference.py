"""Tests of the reference annotator: the result comparison rule, ORDER BY detection, and labels on a real sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from asasql_resources.annotation import order_matters, reference_labels, results_match
from asasql_resources.sandbox import ExecResult, SandboxSession, build_instance


def _result(rows: list[tuple], columns: int | None = None, *, ok: bool = True, truncated: bool = False) -> ExecResult:
    width = columns if columns is not None else (len(rows[0]) if rows else 1)
    return ExecResult(
        ok=ok,
        columns=[f"c{i}" for i in range(width)],
        rows=rows,
        row_count=len(rows),
        elapsed_ms=1.0,
        error=None if ok else "boom",
        truncated=truncated,
    )


NAN = float("nan")
MATCH_CASES = [
    # (name, candidate, gold, ordered, expected)
    ("same rows", [(1, "a"), (2, "b")], [(1, "a"), (2, "b")], False, True),
    ("other order, unordered", [(2, "b"), (1, "a")], [(1, "a"), (2, "b")], False, True),
    ("other order, ordered", [(2, "b"), (1, "a")], [(1, "a"), (2, "b")], True, False),
    ("duplicates counted", [(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),
    ("duplicate dropped", [(1,), (2,)], [(1,), (1,), (2,)], False, False),
    ("missing row", [(1,)], [(1,), (2,)], False, False),
    ("both empty", [], [], False, True),
    ("float sum noise", [(0.1 + 0.2,)], [(0.3,)], False, True),
    ("float vs int", [(3.0,)], [(3,)], False, True),
    ("large whole float vs int", [(12345678901.0,)], [(12345678901,)], False, True),
    ("decimal vs float", [(Decimal("2.50"),)], [(2.5,)], False, True),
    ("relative 1e-12", [(123456.789,)], [(123456.789 * (1 + 1e-12),)], False, True),
    ("relative 1e-7 differs", [(1.0000001,)], [(1.0,)], False, False),
    ("rounded candidate differs", [(0.667,)], [(2 / 3,)], False, False),
    ("nan equals nan", [(NAN,)], [(float("nan"),)], False, True),
    ("null equals null", [(None, 1)], [(None, 1)], False, True),
    ("null is not zero", [(None,)], [(0,)], False, False),
    ("null is not empty text", [(None,)], [("",)], False, False),
    ("text is exact", [("Paris",)], [("paris",)], False, False),
    ("bool equals 1", [(True,)], [(1,)], False, True),
    ("date equals midnight", [(date(2024, 1, 2),)], [(datetime(2024, 1, 2),)], False, True),
    ("date is not its text", [(date(2024, 1, 2),)], [("2024-01-02",)], False, False),
    (
        "aware timestamps in UTC",
        [(datetime(2024, 1, 2, 8, tzinfo=timezone(timedelta(hours=8))),)],
        [(datetime(2024, 1, 2, tzinfo=UTC),)],
        False,
        True,
    ),
    ("lists compared by element", [([1.0, 2],)], [([1, 2.0],)], False, True),
    ("structs compared by value", [({"a": Decimal("1.5")},)], [({"a": 1.5},)], False, True),
]


@pytest.mark.parametrize("name, candidate, gold, ordered, expected", MATCH_CASES, ids=[c[0] for c in MATCH_CASES])
def test_results_match(name: str, candidate: list[tuple], gold: list[tuple], ordered: bool, expected: bool) -> None:
    assert results_match(_result(candidate), _result(gold), ordered) is expected


@pytest.mark.parametrize(
    "candidate, gold, expected",
    [
        (_result([(1,)], 1), _result([(1,)], 2), False),  # column count differs
        (_result([], 1), _result([], 2), False),
        (_result([(1,)]), _result([(1,)]), True),  # column names c0 vs c0; names are never compared
        (_result([], ok=False), _result([]), False),
        (_result([]), _result([], ok=False), False),
        (_result([(1,)], truncated=True), _result([(1,)]), False),
        (_result([(1,)], truncated=True), _result([(1,)], truncated=True), True),
    ],
)
def test_results_match_on_shape_and_failures(candidate: ExecResult, gold: ExecResult, expected: bool) -> None:
    assert results_match(candidate, gold, ordered=False) is expected


def test_column_names_are_ignored() -> None:
    renamed = ExecResult(ok=True, columns=["total"], rows=[(3,)], row_count=1, elapsed_ms=1.0)
    assert results_match(renamed, _result([(3,)]), ordered=True)


@pytest.mark.parametrize(
    "sql, dialect, expected",
    [
        ("SELECT a FROM t ORDER BY a", "duckdb", True),
        ("SELECT a FROM t", "duckdb", False),
        ("SELECT a FROM t ORDER BY a DESC LIMIT 3", "duckdb", True),
        ("SELECT * FROM (SELECT a FROM t ORDER BY a) AS s", "duckdb", False),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x ORDER BY a", "duckdb", True),
        ("WITH x AS (SELECT a FROM t ORDER BY a) SELECT a FROM x", "duckdb", False),
        ("SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1", "duckdb", True),
        ("SELECT a FROM t UNION ALL SELECT b FROM u", "duckdb", False),
        ("(SELECT a FROM t ORDER BY a)", "duckdb", True),
        ("SELECT row_number() OVER (ORDER BY a) FROM t", "duckdb", False),
        ("SELECT a, string_agg(b ORDER BY b) FROM t GROUP BY a", "duckdb", False),
        ("SELECT `a` FROM `t` ORDER BY `a` LIMIT 1, 2", "mysql", True),
        ("SELECT TOP 3 a FROM t ORDER BY a", "tsql", True),
        ("SELECT (", "duckdb", False),
    ],
)
def test_order_matters(sql: str, dialect: str, expected: bool) -> None:
    assert order_matters(sql, dialect) is expected


def _catalog() -> pl.DataFrame:
    """One table of 24 synthesized rows: every id from 1 to 24 exactly once."""
    return pl.DataFrame(
        {
            "table_name": ["orders", "orders"],
            "column_name": ["id", "amount"],
            "possible_values": [[str(i) for i in range(1, 25)], ["9.5", "20.25"]],
            "data_type": ["INTEGER", "DOUBLE"],
        },
        schema={
            "table_name": pl.Utf8,
            "column_name": pl.Utf8,
            "possible_values": pl.List(pl.Utf8),
            "data_type": pl.Utf8,
        },
    )


class _CountingSession(SandboxSession):
    """A real sandbox session that records the statements it is asked to run."""

    def __init__(self) -> None:
        super().__init__(build_instance(None, _catalog()))
        self.statements: list[str] = []

    def execute(self, sql: str, dialect: str = "duckdb") -> ExecResult:
        self.statements.append(sql)
        return super().execute(sql, dialect)


@pytest.fixture
def session() -> Iterator[_CountingSession]:
    with _CountingSession() as s:
        yield s


GOLD = {
    "First three ids": "SELECT id FROM orders WHERE id <= 3",
    "Top ids": "SELECT id FROM orders ORDER BY id DESC LIMIT 2",
    "Broken gold": "SELECT no_such_column FROM orders",
    " Total amount ": "SELECT sum(amount) FROM orders",
}
PAIRS = [
    # (candidate_id, question, sql, label, reason prefix)
    ("match", "First three ids", "SELECT id AS x FROM orders WHERE id < 4 ORDER BY id DESC", True, "match"),
    ("mismatch", "First three ids", "SELECT id FROM orders WHERE id < 3", False, "mismatch"),
    ("extra column", "First three ids", "SELECT id, id FROM orders WHERE id <= 3", False, "mismatch"),
    ("ordered match", "Top ids", "SELECT id FROM orders WHERE id > 22 ORDER BY id DESC", True, "match"),
    ("ordered mismatch", "Top ids", "SELECT id FROM orders WHERE id > 22 ORDER BY id", False, "mismatch"),
    ("no reference", "Unknown question", "SELECT 1", None, "no_reference"),
    ("gold fails", "Broken gold", "SELECT id FROM orders", None, "gold_failed: "),
    ("candidate fails", "First three ids", "SELECT nope FROM orders", False, "candidate_failed: "),
    ("candidate refused", "First three ids", "DROP TABLE orders", False, "candidate_failed: not a SELECT"),
    ("decimal vs double", "Total amount", "SELECT sum(amount::DECIMAL(10, 2)) FROM orders", True, "match"),
]


def test_reference_labels(session: _CountingSession) -> None:
    pairs = pl.DataFrame([p[:3] for p in PAIRS], schema=["candidate_id", "question", "sql"], orient="row")
    labels = reference_labels(pairs, GOLD, session, "duckdb")
    assert labels.schema == pl.Schema({"candidate_id": pl.String, "label": pl.Boolean, "reason": pl.String})
    assert labels["candidate_id"].to_list() == [p[0] for p in PAIRS]
    assert labels["label"].to_list() == [p[3] for p in PAIRS]
    for (name, *_, reason), found in zip(PAIRS, labels["reason"], strict=True):
        assert found.startswith(reason), (name, found)
    assert "no_such_column" in labels.filter(pl.col("candidate_id") == "gold fails")["reason"][0]
    gold_runs = [sql for sql in session.statements if sql in GOLD.values()]
    assert sorted(gold_runs) == sorted(GOLD.values()), "each distinct gold SQL runs exactly once"
    assert "SELECT 1" not in session.statements and "SELECT id FROM orders" not in session.statements


def test_reference_labels_of_no_pairs(session: _CountingSession) -> None:
    empty = pl.DataFrame(schema={"candidate_id": pl.String, "question": pl.String, "sql": pl.String})
    assert reference_labels(empty, GOLD, session, "duckdb").shape == (0, 3)
    assert session.statements == []
