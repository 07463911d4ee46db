"""Read xlsx sheets from users within bounds: file and unpacked bytes, cells parsed, header width, cell length.

Sheets are read row by row from openpyxl's read-only parser, so a stray cell at column XFD costs one cell, not a
row padded to 16,384 columns, and a sheet that breaks off mid-file gives a located error, not a traceback.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import WorkSheetParser

from asasql_resources.domain.errors import DomainIssue, error
from asasql_resources.domain.limits import (
    MAX_CELL_CHARS,
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_UNPACKED_BYTES,
    MAX_WORKBOOK_BYTES,
    file_problem,
    shorten,
)

MAX_ZIP_MEMBERS = 10_000


class SheetProblem(Exception):
    """A sheet that cannot be read further; `row` is the row where reading stopped."""

    def __init__(self, message: str, row: int) -> None:
        self.message, self.row = message, row
        super().__init__(message)


@dataclass
class CellBudget:
    """The cells a reader may still parse, shared by every sheet of one workbook."""

    left: int = MAX_CELLS

    def spend(self, cells: int, row: int) -> None:
        """Take `cells` from the budget; SheetProblem once it is spent."""
        self.left -= cells
        if self.left < 0:
            raise SheetProblem(f"the workbook holds more than {MAX_CELLS:,} cells, the bound on reading it", row)


@dataclass(frozen=True)
class Table:
    """A sheet read under its header: data rows as (Excel row number, {header: value}), empty rows left out."""

    header: list[str]
    rows: list[tuple[int, dict[str, object]]] = field(default_factory=list)


def open_workbook(path: Path) -> Workbook:
    """Open an xlsx read-only after checking its size on disk and unpacked; ValueError says why it cannot be."""
    problem = file_problem(path, MAX_WORKBOOK_BYTES)
    if problem is not None:
        raise ValueError(problem)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(f"cannot read the workbook: not a readable .xlsx workbook (a zip file): {exc}") from None
    unpacked = sum(member.file_size for member in members)
    if len(members) > MAX_ZIP_MEMBERS:
        raise ValueError(f"holds {len(members):,} parts, over the bound of {MAX_ZIP_MEMBERS:,}")
    if unpacked > MAX_UNPACKED_BYTES:
        raise ValueError(f"unpacks to {unpacked:,} bytes, over the {MAX_UNPACKED_BYTES:,}-byte bound on reading it")
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds of errors on a damaged file
        reason = f"{type(exc).__name__}: {shorten(str(exc), 200)}"
        raise ValueError(f"cannot read the workbook: not a readable .xlsx workbook: {reason}") from None


def find_sheets(book: Workbook, names: tuple[str, ...], file: str, issues: list[DomainIssue]) -> dict[str, object]:
    """The sheets named `names` (any case, spaces stripped); two sheets with one name are an error, not a choice."""
    found: dict[str, list[ReadOnlyWorksheet]] = {}
    for sheet in book.worksheets:
        found.setdefault(sheet.title.strip().lower(), []).append(sheet)
    sheets = {}
    for name in names:
        matches = found.get(name, [])
        if len(matches) > 1:
            titles = " and ".join(repr(sheet.title) for sheet in matches)
            issues.append(error(file, f"{len(matches)} sheets are named {titles}: keep one", name))
        elif matches:
            sheets[name] = matches[0]
    return sheets


def read_table(sheet: ReadOnlyWorksheet, name: str, file: str, budget: CellBudget, issues: list[DomainIssue]) -> Table:
    """Read a sheet under its header row (lower-cased); issues for repeated headers and overlong cells.

    Raises SheetProblem when the sheet cannot be read to its end or past a bound.
    """
    rows = sheet_rows(sheet, budget)
    number, cells = next(rows, (1, {}))
    header = _header(cells if number == 1 else {}, name, file, issues)
    table = Table([column for column in header.values() if column])
    for number, cells in rows:
        values = {}
        for index, value in cells.items():
            column = header.get(index)
            if not column or value is None or value == "":
                continue
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                message = f"{len(value):,} characters, over Excel's {MAX_CELL_CHARS:,} per cell"
                issues.append(error(file, message, name, number, column))
                continue
            values[column] = value
        if values:
            table.rows.append((number, values))
    return table


def _header(cells: dict[int, object], name: str, file: str, issues: list[DomainIssue]) -> dict[int, str]:
    """Column index -> lower-cased header name; a repeated name or a header past MAX_COLUMNS is an error."""
    header: dict[int, str] = {}
    first: dict[str, int] = {}
    for index, value in sorted(cells.items()):
        text = "" if value is None else str(value).strip().lower()
        if not text:
            continue
        if index > MAX_COLUMNS:
            message = f"a header cell at column {get_column_letter(index)}, past the bound of {MAX_COLUMNS} columns"
            issues.append(error(file, message, name, 1, shorten(text, 40)))
        elif text in first:
            letters = f"{get_column_letter(first[text])} and {get_column_letter(index)}"
            issues.append(error(file, f"the header names this column twice (columns {letters})", name, 1, text))
        else:
            first[text] = index
            header[index] = text
    return header


def sheet_rows(sheet: ReadOnlyWorksheet, budget: CellBudget) -> Iterator[tuple[int, dict[int, object]]]:
    """(row number, {column index: value}) of each row the sheet's XML holds; SheetProblem when reading fails."""
    last = 0
    # openpyxl's read-only rows pad every row to the widest one; its parser yields only the cells that exist.
    source = sheet.parent._archive.open(sheet._worksheet_path)
    parser = WorkSheetParser(
        source,
        sheet._shared_strings,
        data_only=True,
        epoch=sheet.parent.epoch,
        date_formats=sheet.parent._date_formats,
        timedelta_formats=sheet.parent._timedelta_formats,
    )
    try:
        for number, cells in parser.parse():
            budget.spend(len(cells) + 1, number)
            yield number, {cell["column"]: cell["value"] for cell in cells}
            last = number
    except SheetProblem:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet raises XML, zip, zlib or value errors
        raise SheetProblem(f"cannot read the sheet from row {last + 1} on: {_reason(exc)}", last + 1) from None
    finally:
        source.close()


def _reason(exc: Exception) -> str:
    """A short reason for a failed read."""
    text = str(exc)
    if "integer string conversion" in text:
        return "a number cell has more than 4,300 digits"
    return f"{type(exc).__name__}: {shorten(text, 160)}"
