"""Held-out questions: the normal form that exact-duplicate and test-set leak checks compare."""

from collections.abc import Iterable

_TRAILING_PUNCTUATION = "?.!。？！ "


def normalise_question(text: str) -> str:
    """Lowercase, whitespace collapsed, trailing ?.!。？！ stripped: the form for exact-dup and leak checks."""
    return " ".join(text.lower().split()).rstrip(_TRAILING_PUNCTUATION)


def leaked(questions: Iterable[str], held_out: Iterable[str]) -> list[str]:
    """The questions whose normal form is that of a held-out question, in order."""
    banned = {normalise_question(question) for question in held_out}
    return [question for question in questions if normalise_question(question) in banned]
