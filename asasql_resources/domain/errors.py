"""Issues found while reading a domain folder, and the error that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# How a position is named in each kind of file: (row word, column word).
_POSITION_WORDS = {".xlsx": ("row", "column"), ".json": ("item", "key"), ".yaml": ("line", "key")}


@dataclass(frozen=True)
class DomainIssue:
    """One problem in a domain file, located by file, sheet, row and column."""

    file: str
    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        """Render as e.g. `description_full.xlsx [schema] row 7, column possible_value: ...`."""
        row_word, column_word = _position_words(self.file)
        place = [f"{row_word} {self.row}"] if self.row is not None else []
        if self.column is not None:
            place.append(f"{column_word} {self.column}")
        head = self.file + (f" [{self.sheet}]" if self.sheet else "")
        if place:
            head += " " + ", ".join(place)
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{head}: {self.message}"


def _position_words(file: str) -> tuple[str, str]:
    """The words that name a row and a column in this kind of file."""
    suffix = "." + file.rsplit(".", 1)[-1].lower() if "." in file else ""
    return _POSITION_WORDS.get(".yaml" if suffix == ".yml" else suffix, ("row", "column"))


class DomainValidationError(Exception):
    """Raised when a domain folder has errors; `issues` lists every issue found."""

    def __init__(self, issues: Iterable[DomainIssue]) -> None:
        self.issues: list[DomainIssue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @property
    def errors(self) -> list[DomainIssue]:
        """Only the issues of severity "error"."""
        return [issue for issue in self.issues if issue.severity == "error"]


def error(
    file: str, message: str, sheet: str | None = None, row: int | None = None, column: str | None = None
) -> DomainIssue:
    """Build an issue of severity "error"."""
    return DomainIssue(file, message, sheet, row, column, "error")


def warning(
    file: str, message: str, sheet: str | None = None, row: int | None = None, column: str | None = None
) -> DomainIssue:
    """Build an issue of severity "warning"."""
    return DomainIssue(file, message, sheet, row, column, "warning")


def json_kind(value: object) -> str:
    """The JSON name of a parsed value's type, for messages ("object", "list", "string", ...)."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"
