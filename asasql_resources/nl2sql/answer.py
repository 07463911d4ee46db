"""Reading the SQL out of a model's answer: the first statement that parses, fences and prose removed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

SQL_STOP = (";",)  # an SQL answer ends at its first semicolon, so generation stops there

# Tokens an SQL answer may take: more than the demo's longest gold SQL; an answer that runs longer is prose or a
# loop that a longer budget would only make longer.
SQL_MAX_NEW_TOKENS = 96

# Where a statement may start, and where it may end: a line end, a semicolon, a backtick (inline
# code) or a sentence end (". " followed by prose). Each start is tried with its ends, longest first.
_START = re.compile(r"\b(?:select|with)\b", re.IGNORECASE)
_END = re.compile(r"\n|;|`|\.(?=\s|$)")
_FENCE = re.compile(r"```(.*?)(?:```|\Z)", re.DOTALL)
# Bounds that keep extraction fast on long, prose-heavy answers.
_MAX_STARTS = 8
_MAX_STATEMENT_CHARS = 6000


def extract_sql(text: str, dialect: str | None = None) -> str | None:
    """The first SELECT/WITH statement in a model answer (fences, labels, chatter and trailing prose removed), or None.

    `dialect` is the one the statement must parse in (sqlglot's generic dialect when None); never raises.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        read = Dialect.get_or_raise(dialect)
    except ValueError:
        read = Dialect.get_or_raise(None)
    for region in _regions(text):
        for start in islice(_START.finditer(region), _MAX_STARTS):
            statement = _longest_statement(region[start.start() : start.start() + _MAX_STATEMENT_CHARS], read)
            if statement is not None:
                return statement
    return None


def _regions(text: str) -> Iterator[str]:
    """Where to look for SQL: fenced blocks first (an unclosed fence runs to the end), then the whole text."""
    for fence in _FENCE.finditer(text):
        yield fence.group(1)
    yield text.replace("```", "\n")


def _longest_statement(tail: str, read: Dialect) -> str | None:
    """The longest prefix of `tail`, cut at a natural end, that parses as one query with a projection.

    Backticks must pair up (MySQL identifiers), so that an inline-code backtick closing the query is cut off.
    """
    ends = [match.start() for match in _END.finditer(tail)] + [len(tail)]
    for end in sorted(set(ends), reverse=True):
        candidate = tail[:end].strip().rstrip(";").strip()
        if candidate and candidate.count("`") % 2 == 0 and _is_query(candidate, read):
            return candidate
    return None


def _is_query(sql: str, read: Dialect) -> bool:
    """Whether `sql` parses as exactly one SELECT (or set operation) with at least one projection."""
    try:
        statements = [s for s in read.parse(sql) if s is not None]
    except (SqlglotError, RecursionError, ValueError):
        return False
    if len(statements) != 1:
        return False
    statement = statements[0]
    while isinstance(statement, exp.Subquery):
        statement = statement.this
    if isinstance(statement, exp.SetOperation):
        return True
    return isinstance(statement, exp.Select) and bool(statement.expressions)
