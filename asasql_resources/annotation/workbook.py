"""The annotation workbook of one round: export with dropdowns and suggestions, checked import, status for a sensor."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import polars as pl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from asasql_resources.domain.errors import DomainIssue, error
from asasql_resources.domain.samples import parse_label
from asasql_resources.domain.xlsx import CellBudget, SheetProblem, find_sheets, open_workbook, read_table, sheet_rows

LABELS_SHEET, ABOUT_SHEET = "labels", "about"
ITEM_COLUMNS = ("candidate_id", "question", "sql", "schema_context", "score")
COLUMNS = (*ITEM_COLUMNS, "suggestion", "label", "corrected_sql", "note")
# The columns an annotator fills in; every other column is for reading only.
INPUT_COLUMNS = ("label", "corrected_sql", "note")
LABEL_CHOICES = ("correct", "incorrect")
SUGGESTION_THRESHOLD = 0.5
SCORE_DIGITS = 3
FIRST_DATA_ROW = 2
EXCEL_CELL_LIMIT = 32_767  # characters Excel keeps in one cell
READ_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "candidate_id": pl.String(),
    "label": pl.Boolean(),
    "corrected_sql": pl.String(),
    "note": pl.String(),
}
INSTRUCTIONS = (
    "How to label",
    "In the 'labels' sheet, choose a label for every row: 'correct' when the SQL is syntactically valid and "
    "answers the question on this schema, else 'incorrect'.",
    "'suggestion' is the reward model's guess (score = its probability that the SQL is correct); check it, "
    "do not copy it.",
    "corrected_sql (optional): on a row labeled incorrect, a SQL statement that does answer the question. "
    "Leave it empty on rows labeled correct.",
    "note (optional): anything worth keeping about the row.",
    "Do not add, remove or edit rows or candidate ids; sorting and filtering are fine. Save as .xlsx.",
)
_WIDTHS = {
    "candidate_id": 18,
    "question": 40,
    "sql": 60,
    "schema_context": 60,
    "score": 8,
    "suggestion": 12,
    "label": 12,
    "corrected_sql": 50,
    "note": 30,
}
_WRAPPED = frozenset({"question", "sql", "schema_context", "corrected_sql", "note"})
_ABOUT_KEYS = ("round_key", "rows", "fingerprint", "exported_at")


class AnnotationError(ValueError):
    """A returned workbook cannot be read; `issues` lists every problem, each located by file, sheet, row, column."""

    def __init__(self, issues: Iterable[DomainIssue]) -> None:
        self.issues: list[DomainIssue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class WorkbookStatus:
    """What a sensor needs to know of a workbook; `error` says why it could not be read (then the counts are 0)."""

    path: Path
    round_key: str | None
    rows: int
    labeled: int
    edited: int
    error: str | None = None

    @property
    def readable(self) -> bool:
        """True when the file could be read as an annotation workbook."""
        return self.error is None

    @property
    def complete(self) -> bool:
        """True when every data row holds a valid label."""
        return self.readable and self.rows > 0 and self.labeled == self.rows


def ids_fingerprint(candidate_ids: Iterable[str]) -> str:
    """A short hash of a set of candidate ids, independent of their order."""
    joined = "\n".join(sorted(candidate_ids))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def export_workbook(items: pl.DataFrame, path: Path, round_key: str, overwrite: bool = False) -> Path:
    """Write the round's workbook atomically; refuse to replace one that holds annotations unless `overwrite`."""
    _check_items(items)
    if not round_key.strip():
        raise ValueError("round_key must not be empty")
    if path.exists() and not overwrite:
        _refuse_overwriting_annotations(path)
    book = openpyxl.Workbook()
    _write_labels(book.active, items)
    _write_about(book.create_sheet(ABOUT_SHEET), round_key, items["candidate_id"].to_list())
    _save_atomically(book, path)
    return path


def read_workbook(
    path: Path, round_key: str, expected_ids: Sequence[str], require_complete: bool = True
) -> pl.DataFrame:
    """The labels of a returned workbook, in sheet order; raises AnnotationError listing every problem found.

    Labels accept correct/incorrect, true/false, yes/no and 1/0 in any case. A corrected_sql on a row
    labeled correct is an error (there is nothing to correct). Only candidate_id and the input columns
    are read; edits to the other columns are ignored.
    """
    file = str(path)
    issues: list[DomainIssue] = []
    book = _open(path)
    try:
        sheets = find_sheets(book, (LABELS_SHEET, ABOUT_SHEET), file, issues)
        budget = CellBudget()
        _check_about(sheets, file, round_key, expected_ids, budget, issues)
        rows = _label_rows(book, sheets, file, budget, issues)
    finally:
        book.close()
    records = _check_rows(rows, file, round_key, expected_ids, require_complete, issues) if rows is not None else []
    if issues:
        raise AnnotationError(issues)
    return pl.DataFrame(records, schema=READ_SCHEMA)


def workbook_status(path: Path) -> WorkbookStatus:
    """Count rows and labels of a workbook; never raises, a half-written or damaged file gives `error`."""
    try:
        book = open_workbook(path)
        try:
            issues: list[DomainIssue] = []
            sheets = find_sheets(book, (LABELS_SHEET, ABOUT_SHEET), str(path), issues)
            budget = CellBudget()
            about = _about_values(sheets.get(ABOUT_SHEET), budget)
            rows = _label_rows(book, sheets, str(path), budget, issues)
        finally:
            book.close()
        if issues:
            return WorkbookStatus(path, None, 0, 0, 0, error=str(issues[0]))
        if rows is None:
            return WorkbookStatus(path, None, 0, 0, 0, error=f"no readable '{LABELS_SHEET}' sheet")
        round_key = about["round_key"][1] if "round_key" in about else None
        labeled = sum(_valid_label(row.get("label")) is not None for row in rows)
        edited = sum(any(row.get(column) for column in INPUT_COLUMNS) for row in rows)
        return WorkbookStatus(path, round_key or None, len(rows), labeled, edited)
    except Exception as exc:  # noqa: BLE001 - a file in the middle of being saved must never fail a sensor
        return WorkbookStatus(path, None, 0, 0, 0, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class _Row:
    """One non-empty data row of the labels sheet: its Excel row number and its cells by header."""

    number: int
    cells: dict[str, object]

    def get(self, column: str) -> str:
        """The stripped text of a cell; "" when empty."""
        return _text(self.cells.get(column))


def _check_items(items: pl.DataFrame) -> None:
    missing = [column for column in ITEM_COLUMNS if column not in items.columns]
    if missing:
        raise ValueError(f"items lack the column(s) {', '.join(missing)} (need {', '.join(ITEM_COLUMNS)})")
    if items.is_empty():
        raise ValueError("no items to export: the workbook would have nothing to label")
    ids = items["candidate_id"]
    if ids.null_count() or (ids.str.strip_chars() == "").any():
        raise ValueError("items have an empty candidate_id")
    duplicated = ids.filter(ids.is_duplicated()).unique().sort().to_list()
    if duplicated:
        raise ValueError(f"candidate_id must be unique; repeated: {', '.join(duplicated)}")


def _refuse_overwriting_annotations(path: Path) -> None:
    status = workbook_status(path)
    if not status.readable:
        raise FileExistsError(
            f"{path} exists but cannot be read ({status.error}); it may hold annotations, so it is not "
            "replaced: pass overwrite=True to replace it"
        )
    if status.edited:
        raise FileExistsError(
            f"{path} already holds annotations on {status.edited} of {status.rows} row(s); refusing to replace "
            "them: import it, or pass overwrite=True to replace it"
        )


def _write_labels(sheet: Worksheet, items: pl.DataFrame) -> None:
    sheet.title = LABELS_SHEET
    sheet.append(COLUMNS)
    score = pl.col("score")
    table = items.select(
        *ITEM_COLUMNS[:-1],
        score.round(SCORE_DIGITS),
        pl.when(score >= SUGGESTION_THRESHOLD)
        .then(pl.lit(LABEL_CHOICES[0]))
        .when(score < SUGGESTION_THRESHOLD)
        .then(pl.lit(LABEL_CHOICES[1]))
        .alias("suggestion"),
    )
    for row in table.iter_rows():
        sheet.append([_excel_value(value) for value in row] + [None] * len(INPUT_COLUMNS))
    _style_labels(sheet)
    _add_label_dropdown(sheet, items.height)


def _style_labels(sheet: Worksheet) -> None:
    sheet.freeze_panes = sheet.cell(FIRST_DATA_ROW, 1)
    sheet.auto_filter.ref = sheet.dimensions
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS[column]
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=FIRST_DATA_ROW):
        for column, cell in zip(COLUMNS, row, strict=True):
            if cell.data_type == "f":
                cell.data_type = "s"  # text that starts with "=" stays text, never a formula
            cell.alignment = Alignment(wrap_text=column in _WRAPPED, vertical="top")


def _add_label_dropdown(sheet: Worksheet, rows: int) -> None:
    letter = get_column_letter(COLUMNS.index("label") + 1)
    choices = ", ".join(LABEL_CHOICES)
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(LABEL_CHOICES) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="Not a label",
        error=f"Choose one of: {choices}.",
        showInputMessage=True,
        promptTitle="label",
        prompt=f"Is the SQL right for the question? Choose {choices}.",
    )
    validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}{FIRST_DATA_ROW + rows - 1}")
    sheet.add_data_validation(validation)


def _write_about(sheet: Worksheet, round_key: str, candidate_ids: list[str]) -> None:
    exported_at = datetime.now(UTC).isoformat(timespec="seconds")
    values = (round_key, len(candidate_ids), ids_fingerprint(candidate_ids), exported_at)
    sheet.append(("field", "value"))
    for key, value in zip(_ABOUT_KEYS, values, strict=True):
        sheet.append((key, value))
    sheet.append(())
    for line in INSTRUCTIONS:
        sheet.append((line,))
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 40
    sheet.protection.sheet = True  # no password: it only guards against edits by accident


def _save_atomically(book: Workbook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            book.save(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _excel_value(value: object) -> object:
    """A value as a cell can hold it: text without control characters, cut to Excel's cell limit."""
    if not isinstance(value, str):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:EXCEL_CELL_LIMIT]


def _open(path: Path) -> Workbook:
    """The workbook opened read-only within the reading bounds; AnnotationError says why it cannot be."""
    file = str(path)
    try:
        return open_workbook(path)
    except ValueError as exc:
        message = "no such file" if str(exc) == "the file is missing" else str(exc)
        raise AnnotationError([error(file, message)]) from None


def _about_values(sheet: object | None, budget: CellBudget) -> dict[str, tuple[int, str]]:
    """key -> (row number, text) of the about sheet; empty when the sheet is missing."""
    if sheet is None:
        return {}
    values: dict[str, tuple[int, str]] = {}
    for number, cells in sheet_rows(sheet, budget):
        key = _text(cells.get(1))
        if key in _ABOUT_KEYS:
            values.setdefault(key, (number, _text(cells.get(2))[:200]))
    return values


def _check_about(
    sheets: dict[str, object],
    file: str,
    round_key: str,
    expected_ids: Sequence[str],
    budget: CellBudget,
    issues: list[DomainIssue],
) -> None:
    if ABOUT_SHEET not in sheets:
        if not any(issue.sheet == ABOUT_SHEET for issue in issues):
            issues.append(error(file, "missing sheet: cannot tell which round the workbook is for", ABOUT_SHEET))
        return
    try:
        about = _about_values(sheets[ABOUT_SHEET], budget)
    except SheetProblem as exc:
        issues.append(error(file, exc.message, ABOUT_SHEET, exc.row or None))
        return
    for key in ("round_key", "fingerprint"):
        if key not in about:
            issues.append(error(file, f"missing field {key!r}", ABOUT_SHEET, column="field"))
    if "round_key" in about and about["round_key"][1] != round_key:
        row, found = about["round_key"]
        issues.append(error(file, f"the workbook is for {found!r}, not {round_key!r}", ABOUT_SHEET, row, "value"))
    if "fingerprint" in about and about["fingerprint"][1] != ids_fingerprint(expected_ids):
        message = f"the workbook was exported for other candidates than {round_key} selected"
        issues.append(error(file, message, ABOUT_SHEET, about["fingerprint"][0], "value"))


def _label_rows(
    book: Workbook, sheets: dict[str, object], file: str, budget: CellBudget, issues: list[DomainIssue]
) -> list[_Row] | None:
    """The non-empty data rows of the labels sheet; None when the sheet or a needed column is missing or unreadable."""
    if LABELS_SHEET not in sheets:
        if not any(issue.sheet == LABELS_SHEET for issue in issues):
            found = ", ".join(repr(s.title) for s in book.worksheets)
            issues.append(error(file, f"missing sheet (sheets found: {found})", LABELS_SHEET))
        return None
    try:
        table = read_table(sheets[LABELS_SHEET], LABELS_SHEET, file, budget, issues)
    except SheetProblem as exc:
        issues.append(error(file, exc.message, LABELS_SHEET, exc.row or None))
        return None
    missing = [column for column in ("candidate_id", *INPUT_COLUMNS) if column not in table.header]
    for column in missing:
        issues.append(error(file, "missing column in the header", LABELS_SHEET, 1, column))
    if missing:
        return None
    return [_Row(number, cells) for number, cells in table.rows if any(_text(value) for value in cells.values())]


def _check_rows(
    rows: list[_Row],
    file: str,
    round_key: str,
    expected_ids: Sequence[str],
    require_complete: bool,
    issues: list[DomainIssue],
) -> list[dict[str, object]]:
    expected = set(expected_ids)
    first_row: dict[str, int] = {}
    records = []
    for row in rows:
        _check_id(row, file, round_key, expected, first_row, issues)
        label = _check_label(row, file, require_complete, issues)
        records.append(
            {
                "row": row.number,
                "candidate_id": row.get("candidate_id"),
                "label": label,
                "corrected_sql": row.get("corrected_sql") or None,
                "note": row.get("note") or None,
            }
        )
    if len(rows) != len(expected_ids):
        message = f"{len(rows)} data rows, but {len(expected_ids)} were exported (rows were added or removed)"
        issues.append(error(file, message, LABELS_SHEET))
    for candidate_id in expected_ids:
        if candidate_id not in first_row:
            message = f"candidate id {candidate_id!r} is missing (its row was removed or its id edited)"
            issues.append(error(file, message, LABELS_SHEET, column="candidate_id"))
    return records


def _check_id(
    row: _Row, file: str, round_key: str, expected: set[str], first_row: dict[str, int], issues: list[DomainIssue]
) -> None:
    candidate_id = row.get("candidate_id")
    if not candidate_id:
        message = "empty candidate id"
    elif candidate_id in first_row:
        message = f"candidate id {candidate_id!r} repeats row {first_row[candidate_id]}"
    elif candidate_id not in expected:
        message = f"candidate id {candidate_id!r} was not exported for {round_key} (row added or id edited)"
        first_row[candidate_id] = row.number
    else:
        first_row[candidate_id] = row.number
        return
    issues.append(error(file, message, LABELS_SHEET, row.number, "candidate_id"))


def _check_label(row: _Row, file: str, require_complete: bool, issues: list[DomainIssue]) -> bool | None:
    text = row.get("label")
    label = _valid_label(row.cells.get("label"))
    if not text and require_complete:
        issues.append(
            error(file, f"missing label: choose {' or '.join(LABEL_CHOICES)}", LABELS_SHEET, row.number, "label")
        )
    elif text and label is None:
        message = f"{text!r} is not a label: choose {' or '.join(LABEL_CHOICES)} (true/false, yes/no, 1/0 also work)"
        issues.append(error(file, message, LABELS_SHEET, row.number, "label"))
    if label is True and row.get("corrected_sql"):
        message = "a corrected SQL on a row labeled correct: clear it, or label the row incorrect"
        issues.append(error(file, message, LABELS_SHEET, row.number, "corrected_sql"))
    return label


def _valid_label(value: object) -> bool | None:
    """The label a cell holds, or None when it is empty or not a label."""
    if not _text(value):
        return None
    try:
        return parse_label(value)
    except ValueError:
        return None


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()
