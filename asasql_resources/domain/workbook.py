"""Read description_full.xlsx (sheets schema, meta, concept) into the catalog and concept tables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from asasql_resources.domain.errors import DomainIssue, error, json_kind, warning
from asasql_resources.domain.jsontext import JsonProblem, parse_json
from asasql_resources.domain.limits import MAX_CELL_JSON_DEPTH
from asasql_resources.domain.xlsx import CellBudget, SheetProblem, find_sheets, open_workbook, read_table

WORKBOOK_FILE = "description_full.xlsx"
SCHEMA_SHEET, META_SHEET, CONCEPT_SHEET = "schema", "meta", "concept"
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    SCHEMA_SHEET: ("table_name", "column_name", "column_name_zh", "description", "reason", "possible_value"),
    META_SHEET: ("table", "description"),
    CONCEPT_SHEET: ("entity", "description"),
}
# Schema columns whose empty cells are worth a warning but do not stop the load.
RECOMMENDED_SCHEMA_COLUMNS = ("column_name_zh", "description", "reason")

CATALOG_SCHEMA: dict[str, pl.DataType] = {
    "table_name": pl.String(),
    "column_name": pl.String(),
    "column_name_zh": pl.String(),
    "description": pl.String(),
    "reason": pl.String(),
    "possible_values": pl.List(pl.String()),
    "data_type": pl.String(),
    "table_description": pl.String(),
    "sheet_row": pl.Int64(),
}
CONCEPTS_SCHEMA: dict[str, pl.DataType] = {"entity": pl.String(), "description": pl.String()}

_PLAIN_LIST_SEPARATORS = re.compile(r"[,，、]")
_JSON_STARTS = ("[", "{", '"')


@dataclass(frozen=True)
class SheetRow:
    """One non-empty data row of a sheet: its Excel row number and its stripped cells by header."""

    number: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        """The stripped text of a cell; "" when the cell is empty or the column is absent."""
        return self.cells.get(column, "")


@dataclass(frozen=True)
class WorkbookContents:
    """What description_full.xlsx holds, with every issue found while reading it."""

    catalog: pl.DataFrame
    concepts: pl.DataFrame
    issues: list[DomainIssue]


def read_workbook(path: Path, fold_case: bool = True) -> WorkbookContents:
    """Read and check the three sheets of description_full.xlsx.

    fold_case: the dialect folds unquoted identifiers, so meta rows name their table in any case. Two tables (or
    two columns of a table) whose names differ only in case are an error in any dialect: the sandbox (DuckDB)
    folds names, so it would merge them.
    """
    issues: list[DomainIssue] = []
    sheets = _read_sheets(path, issues)
    schema_rows, meta_rows, concept_rows = (sheets.get(name) for name in REQUIRED_COLUMNS)
    records = _catalog_records(schema_rows, issues) if schema_rows is not None else []
    tables = list(dict.fromkeys(record["table_name"] for record in records))
    _case_collisions(records, issues)
    if fold_case:
        meta_rows = _canonical_tables(meta_rows, tables)
    descriptions = _table_descriptions(meta_rows, tables if schema_rows is not None else None, issues)
    for record in records:
        record["table_description"] = descriptions.get(record["table_name"], "")
    concepts = _concept_records(concept_rows, issues) if concept_rows is not None else []
    return WorkbookContents(
        catalog=pl.DataFrame(records, schema=CATALOG_SCHEMA),
        concepts=pl.DataFrame(concepts, schema=CONCEPTS_SCHEMA),
        issues=issues,
    )


def parse_possible_values(text: str) -> tuple[list[str], str | None]:
    """Read a possible_value cell: a JSON list, or a plain list split on commas or 、 (with a warning message).

    Raises ValueError when the cell looks like JSON but is malformed or not a list.
    """
    if not text:
        return [], None
    if not text.startswith(_JSON_STARTS):
        values = [value.strip() for value in _PLAIN_LIST_SEPARATORS.split(text) if value.strip()]
        shown = json.dumps(values, ensure_ascii=False)
        return values, f"not a JSON list; read as a plain list of {len(values)} value(s): {shown}"
    try:
        parsed = parse_json(text, MAX_CELL_JSON_DEPTH)
    except JsonProblem as exc:
        raise ValueError(f"malformed JSON list: {exc.message.removeprefix('not valid JSON: ')}") from None
    if not isinstance(parsed, list):
        raise ValueError(f"must be a JSON list, not a JSON {json_kind(parsed)}")
    return [value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) for value in parsed], None


def _read_sheets(path: Path, issues: list[DomainIssue]) -> dict[str, list[SheetRow] | None]:
    """Rows of each required sheet, by sheet name; None for a sheet that is missing, unreadable or lacks a column."""
    try:
        book = open_workbook(path)
    except ValueError as exc:
        issues.append(error(WORKBOOK_FILE, str(exc)))
        return {}
    try:
        by_name = find_sheets(book, tuple(REQUIRED_COLUMNS), WORKBOOK_FILE, issues)
        found = ", ".join(repr(sheet.title) for sheet in book.worksheets)
        budget = CellBudget()
        sheets: dict[str, list[SheetRow] | None] = {}
        for name, required in REQUIRED_COLUMNS.items():
            if name in by_name:
                sheets[name] = _read_sheet(by_name[name], name, required, budget, issues)
            elif not any(issue.sheet == name for issue in issues):  # not already reported as a repeated sheet
                issues.append(error(WORKBOOK_FILE, f"missing sheet '{name}' (sheets found: {found})", sheet=name))
        return sheets
    finally:
        book.close()


def _read_sheet(
    sheet: ReadOnlyWorksheet, name: str, required: tuple[str, ...], budget: CellBudget, issues: list[DomainIssue]
) -> list[SheetRow] | None:
    """The non-empty data rows of a sheet, or None when it cannot be read or a required column is missing."""
    try:
        table = read_table(sheet, name, WORKBOOK_FILE, budget, issues)
    except SheetProblem as exc:
        issues.append(error(WORKBOOK_FILE, exc.message, name, exc.row or None))
        return None
    missing = [column for column in required if column not in table.header]
    for column in missing:
        issues.append(error(WORKBOOK_FILE, f"missing required column '{column}'", name, 1, column))
    if missing:
        return None
    data = []
    for number, values in table.rows:
        texts = {column: _cell_text(value) for column, value in values.items()}
        if any(texts.values()):
            data.append(SheetRow(number, texts))
    return data


def _cell_text(value: object) -> str:
    """A cell's value as stripped text; "" for an empty cell."""
    return "" if value is None else str(value).strip()


def _catalog_records(rows: list[SheetRow], issues: list[DomainIssue]) -> list[dict[str, object]]:
    """One catalog record per schema row, checking names, duplicates and possible values."""
    if not rows:
        issues.append(error(WORKBOOK_FILE, "the sheet has no columns listed", SCHEMA_SHEET))
    first_row: dict[tuple[str, str], int] = {}
    records = []
    for row in rows:
        _check_schema_names(row, first_row, issues)
        records.append(
            {
                "table_name": row.get("table_name"),
                "column_name": row.get("column_name"),
                **{column: row.get(column) for column in RECOMMENDED_SCHEMA_COLUMNS},
                "possible_values": _possible_values(row, issues),
                "data_type": row.get("data_type") or None,
                "sheet_row": row.number,
            }
        )
    return records


def _check_schema_names(row: SheetRow, first_row: dict[tuple[str, str], int], issues: list[DomainIssue]) -> None:
    """Check the name cells of one schema row: required, recommended, and unique per table."""
    for column in ("table_name", "column_name"):
        if not row.get(column):
            issues.append(error(WORKBOOK_FILE, f"empty {column}", SCHEMA_SHEET, row.number, column))
    for column in RECOMMENDED_SCHEMA_COLUMNS:
        if not row.get(column):
            issues.append(warning(WORKBOOK_FILE, f"empty {column}", SCHEMA_SHEET, row.number, column))
    key = (row.get("table_name"), row.get("column_name"))
    if not all(key):
        return
    if key in first_row:
        message = f"duplicate column {key[0]}.{key[1]}: rows {first_row[key]} and {row.number} both define it"
        issues.append(error(WORKBOOK_FILE, message, SCHEMA_SHEET, row.number, "column_name"))
    else:
        first_row[key] = row.number


def _possible_values(row: SheetRow, issues: list[DomainIssue]) -> list[str]:
    """The parsed possible_value cell of a schema row, recording an error or warning when it is not clean JSON."""
    try:
        values, note = parse_possible_values(row.get("possible_value"))
    except ValueError as exc:
        issues.append(error(WORKBOOK_FILE, str(exc), SCHEMA_SHEET, row.number, "possible_value"))
        return []
    if note:
        issues.append(warning(WORKBOOK_FILE, note, SCHEMA_SHEET, row.number, "possible_value"))
    return values


def _case_collisions(records: list[dict[str, object]], issues: list[DomainIssue]) -> None:
    """An error for each table, or column of a table, whose name equals another's but for case."""
    seen: dict[tuple[str, ...], tuple[str, object]] = {}
    for record in records:
        table, column, row = record["table_name"], record["column_name"], record["sheet_row"]
        if not table or not column:
            continue
        for key, name, what, where in (
            ((table.lower(),), table, "tables", "table_name"),
            ((table.lower(), column.lower()), column, f"columns of '{table}'", "column_name"),
        ):
            other, other_row = seen.setdefault(key, (name, row))
            if other != name:
                message = (
                    f"{what} '{other}' (row {other_row}) and '{name}' differ only in case; DuckDB, which runs the "
                    "SQL, folds names and would merge them: rename one"
                )
                issues.append(error(WORKBOOK_FILE, message, SCHEMA_SHEET, row, where))
                seen[key] = (name, row)


def _canonical_tables(rows: list[SheetRow] | None, tables: list[str]) -> list[SheetRow] | None:
    """Meta rows with each table named as the schema sheet spells it (the dialect ignores case)."""
    spelled = {table.lower(): table for table in tables}
    for row in rows or []:
        table = row.get("table")
        if table and table not in tables and table.lower() in spelled:
            row.cells["table"] = spelled[table.lower()]
    return rows


def _table_descriptions(
    rows: list[SheetRow] | None, tables: list[str] | None, issues: list[DomainIssue]
) -> dict[str, str]:
    """Description of each table from the meta sheet; `tables` None skips the checks against the schema."""
    descriptions: dict[str, str] = {}
    first_row: dict[str, int] = {}
    for row in rows or []:
        table = row.get("table")
        if not table:
            issues.append(error(WORKBOOK_FILE, "empty table", META_SHEET, row.number, "table"))
        elif tables is not None and table not in tables:
            message = f"meta row for unknown table '{table}' (not in the schema sheet)"
            issues.append(error(WORKBOOK_FILE, message, META_SHEET, row.number, "table"))
        elif table in first_row:
            message = f"duplicate meta row for table '{table}': rows {first_row[table]} and {row.number}"
            issues.append(error(WORKBOOK_FILE, message, META_SHEET, row.number, "table"))
        else:
            first_row[table] = row.number
            descriptions[table] = row.get("description")
    if rows is not None:
        for table in tables or []:
            if table and table not in descriptions:
                message = f"table '{table}' has no meta row; its description is empty"
                issues.append(warning(WORKBOOK_FILE, message, META_SHEET))
    return descriptions


def _concept_records(rows: list[SheetRow], issues: list[DomainIssue]) -> list[dict[str, str]]:
    """One record per concept row; an empty entity is an error, an empty description a warning."""
    records = []
    for row in rows:
        if not row.get("entity"):
            issues.append(error(WORKBOOK_FILE, "empty entity", CONCEPT_SHEET, row.number, "entity"))
        elif not row.get("description"):
            issues.append(warning(WORKBOOK_FILE, "empty description", CONCEPT_SHEET, row.number, "description"))
        records.append({"entity": row.get("entity"), "description": row.get("description")})
    return records
