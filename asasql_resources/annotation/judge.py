"""The judge annotator: a chat model says whether each SQL answers its question (meant for strong models)."""

from __future__ import annotations

import re

import polars as pl

from asasql_resources.models.chat import ChatModel
from asasql_resources.models.prompts import ChatPrompt

JUDGE_MAX_NEW_TOKENS = 256
JUDGED, UNPARSEABLE = "judged", "unparseable"
LABELS_SCHEMA: dict[str, pl.DataType] = {
    "candidate_id": pl.String(),
    "label": pl.Boolean(),
    "rationale": pl.String(),
    "reason": pl.String(),
}
SYSTEM = (
    "You review SQL written to answer questions about a database. Be strict: the SQL is correct only when it "
    "is valid for the given schema and returns exactly what the question asks for."
)
USER = """Schema:
{schema_context}

Question: {question}

SQL:
{sql}

Does this SQL correctly answer the question on this schema? Answer in exactly this form:
VERDICT: yes or no
RATIONALE: one or two sentences saying why."""

_WORDS = {"yes": True, "correct": True, "true": True, "no": False, "incorrect": False, "false": False}
_WORD = "(" + "|".join(_WORDS) + ")"
# "VERDICT: yes", "**Verdict:** No", "verdict - correct"; not the template echoed back ("yes|no", "yes or no").
_VERDICT = re.compile(rf"\bverdict\W{{0,6}}{_WORD}\b(?!\s*(?:\||/|or\b))", re.IGNORECASE)
# A reply without the label that starts with its answer: "Yes, the SQL ...", "No."
_LEADING = re.compile(rf"^\W*{_WORD}\b", re.IGNORECASE)
_RATIONALE = re.compile(r"\brationale\W{0,6}", re.IGNORECASE)
_STRIP_HEAD = " \t\r\n*_-:.,;"
_STRIP_TAIL = " \t\r\n*_"


def judge_prompts(items: pl.DataFrame) -> list[ChatPrompt]:
    """One prompt per row of `items` (question, sql, schema_context), asking for a VERDICT and a RATIONALE."""
    return [
        ChatPrompt(user=USER.format(**row), system=SYSTEM)
        for row in items.select("schema_context", "question", "sql").iter_rows(named=True)
    ]


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """The verdict and rationale of a judge's reply; the verdict is None when the reply gives none.

    The last "VERDICT: yes|no" wins (correct/incorrect and true/false are read too, in any case and
    markdown); without one, a reply that starts with yes or no gives that. The rationale is the text
    after "RATIONALE:", else the reply without its verdict; an unparseable reply is its own rationale.
    """
    verdicts = list(_VERDICT.finditer(text))
    leading = _LEADING.match(text)
    if verdicts:
        verdict = _WORDS[verdicts[-1].group(1).lower()]
    elif leading:
        verdict = _WORDS[leading.group(1).lower()]
        text = text[leading.end() :]
    else:
        return None, text.strip()
    rationale = _RATIONALE.search(text)
    body = text[rationale.end() :] if rationale else text
    return verdict, _VERDICT.sub("", body).lstrip(_STRIP_HEAD).rstrip(_STRIP_TAIL)


def judge_labels(
    items: pl.DataFrame, chat: ChatModel, seed: int = 0, max_new_tokens: int = JUDGE_MAX_NEW_TOKENS
) -> pl.DataFrame:
    """Labels from `chat` as a judge, greedy and cached: candidate_id, label, rationale, reason (judged/unparseable)."""
    replies = chat.generate(judge_prompts(items), n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    records = []
    for candidate_id, (reply, *_) in zip(items["candidate_id"], replies, strict=True):
        label, rationale = parse_verdict(reply)
        reason = UNPARSEABLE if label is None else JUDGED
        records.append({"candidate_id": candidate_id, "label": label, "rationale": rationale, "reason": reason})
    return pl.DataFrame(records, schema=LABELS_SCHEMA)
