"""The template domain folder that `asasql init` writes: a commented workbook, two samples and domain.yaml."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from asasql_resources.domain.config import CONFIG_FILE
from asasql_resources.domain.samples import SAMPLES_FILE
from asasql_resources.domain.workbook import (
    CONCEPT_SHEET,
    META_SHEET,
    REQUIRED_COLUMNS,
    SCHEMA_SHEET,
    WORKBOOK_FILE,
)

README_SHEET = "readme"
TEMPLATE_FILES = (WORKBOOK_FILE, SAMPLES_FILE, CONFIG_FILE)
# The optional schema column that the template also writes: the sandbox types its synthesized tables with it.
DATA_TYPE = "data_type"
SHEET_COLUMNS: dict[str, tuple[str, ...]] = {
    SCHEMA_SHEET: (*REQUIRED_COLUMNS[SCHEMA_SHEET], DATA_TYPE),
    META_SHEET: REQUIRED_COLUMNS[META_SHEET],
    CONCEPT_SHEET: REQUIRED_COLUMNS[CONCEPT_SHEET],
}
README_HEADER = ("sheet", "column", "required", "meaning")


@dataclass(frozen=True)
class FieldHelp:
    """What one column of a workbook sheet means, and whether its cells must be filled."""

    sheet: str
    column: str
    required: str
    meaning: str


FIELDS: tuple[FieldHelp, ...] = (
    FieldHelp(
        SCHEMA_SHEET,
        "table_name",
        "yes",
        "The table's name, exactly as SQL writes it. One row per column, so a table spans several rows.",
    ),
    FieldHelp(
        SCHEMA_SHEET, "column_name", "yes", "The column's name, exactly as SQL writes it; unique within its table."
    ),
    FieldHelp(
        SCHEMA_SHEET,
        "column_name_zh",
        "recommended",
        "The column's Chinese name (中文字段名). Question writing and column matching use it. "
        "Empty gives a warning, not an error.",
    ),
    FieldHelp(
        SCHEMA_SHEET,
        "description",
        "recommended",
        "What the column holds, units and codes spelled out. The models see it in every schema context.",
    ),
    FieldHelp(
        SCHEMA_SHEET,
        "reason",
        "recommended",
        "Why questions need this column (what they filter, group or join on). For the people who keep the "
        "domain; it is kept in schema_catalog but not shown to the models.",
    ),
    FieldHelp(
        SCHEMA_SHEET,
        "possible_value",
        "header yes, cells may be empty",
        'Values the column takes, as a JSON list: ["active", "stopped"] or [1, 2, 3]. Question writing, '
        "value swaps and the synthesized sandbox database use them. A column without values is all NULL "
        "in the synthesized database, so give key columns a few ids.",
    ),
    FieldHelp(
        SCHEMA_SHEET,
        DATA_TYPE,
        "no",
        "The column's SQL type (VARCHAR, BIGINT, DOUBLE, DATE, TIMESTAMP, BOOLEAN). Without it the "
        "synthesized database infers the type from possible_value.",
    ),
    FieldHelp(META_SHEET, "table", "yes", "A table of the schema sheet, once each."),
    FieldHelp(
        META_SHEET,
        "description",
        "recommended",
        "What one row of the table is, e.g. 'One row per loan'. The models see it with the table.",
    ),
    FieldHelp(
        CONCEPT_SHEET, "entity", "yes", "A term people use in questions: a metric, a status, a nickname of a table."
    ),
    FieldHelp(
        CONCEPT_SHEET,
        "description",
        "recommended",
        "What the term means in tables and columns. Question writing shows the terms to the model.",
    ),
)

_SCHEMA_ROWS: tuple[dict[str, str], ...] = (
    {
        "table_name": "books",
        "column_name": "genre",
        "column_name_zh": "图书类型",
        "description": "Subject category of the book.",
        "reason": "Readers ask for the books of one genre, and count books per genre.",
        "possible_value": '["fiction", "history", "science"]',
        DATA_TYPE: "VARCHAR",
    },
    {
        "table_name": "loans",
        "column_name": "loan_date",
        "column_name_zh": "借出日期",
        "description": "Day the book was lent to a member.",
        "reason": "Questions about the loans of a month or a period filter on this date.",
        "possible_value": '["2025-01-15", "2025-02-03", "2025-02-20"]',
        DATA_TYPE: "DATE",
    },
)
_META_ROWS: tuple[dict[str, str], ...] = (
    {"table": "books", "description": "One row per book in the library's catalogue."},
    {"table": "loans", "description": "One row per loan: one book lent to one member on one day."},
)
_CONCEPT_ROWS: tuple[dict[str, str], ...] = (
    {"entity": "genre", "description": "The subject category of a book: fiction, history or science."},
    {"entity": "monthly loans", "description": "The number of loans whose loan_date falls in one calendar month."},
)
_SHEET_ROWS = {SCHEMA_SHEET: _SCHEMA_ROWS, META_SHEET: _META_ROWS, CONCEPT_SHEET: _CONCEPT_ROWS}

# (question, sql, schema row, label): one SQL answers its question, the other does not (it counts the wrong day).
_SAMPLES = (
    ("How many history books does the library have?", "SELECT COUNT(*) FROM books WHERE genre = 'history'", 0, True),
    (
        "How many books were lent on 3 February 2025?",
        "SELECT COUNT(*) FROM loans WHERE loan_date = '2025-01-15'",
        1,
        False,
    ),
)

_CONFIG_TEXT = """\
# Settings of this domain; every key is optional.
# name: the domain's name (default: the folder's name). Informational.
name: {name}
# description: a sentence about the domain. Informational.
description: A small library, the template's example. Replace it with a sentence about your domain.
# sql_dialect: the dialect of the SQL in data_sample.json, gold_bank.json and test_set.json, any sqlglot dialect
# (duckdb, mysql, postgres, sqlite, tsql, oracle, hive, spark, ...). asasql transpiles it to DuckDB to run it,
# and asks the NL2SQL model for SQL in this dialect. Default: duckdb.
sql_dialect: duckdb
# language: the language the synthesized questions are written in, en or zh. Default: en.
# For zh, fill column_name_zh in the workbook and use a Chinese embedder (see docs/domain.md).
language: en
"""


class TemplateError(Exception):
    """The template cannot be written where it was asked for."""


def write_template(target: Path, *, force: bool = False) -> list[Path]:
    """Write the template domain into `target` and return the files written.

    A missing folder is built in a sibling staging folder and renamed into place. An existing folder must be
    empty unless `force`; each file is then staged and renamed over its namesake, and other files are kept.
    """
    target = Path(target).resolve()
    _check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.init"
    staging.mkdir()
    try:
        write_files(staging, target.name)
        if target.exists():
            for name in TEMPLATE_FILES:
                os.replace(staging / name, target / name)
        else:
            os.rename(staging, target)
    except OSError as exc:
        raise TemplateError(f"cannot write the template into {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target / name for name in TEMPLATE_FILES]


def write_files(folder: Path, name: str) -> None:
    """Write the template's workbook, samples and domain.yaml (naming the domain `name`) into `folder`."""
    write_workbook(folder / WORKBOOK_FILE)
    samples = json.dumps(template_samples(), ensure_ascii=False, indent=2) + "\n"
    (folder / SAMPLES_FILE).write_text(samples, encoding="utf-8")
    (folder / CONFIG_FILE).write_text(_CONFIG_TEXT.format(name=json.dumps(name, ensure_ascii=False)), encoding="utf-8")


def write_workbook(path: Path) -> None:
    """The three sheets with commented headers and two example rows each, then a readme sheet."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    help_of = {(field.sheet, field.column): field for field in FIELDS}
    for sheet_name, columns in SHEET_COLUMNS.items():
        sheet = book.create_sheet(sheet_name)
        _write_header(sheet, columns)
        for column in columns:
            field = help_of[(sheet_name, column)]
            comment = Comment(f"{column} (required: {field.required})\n{field.meaning}", "asasql init")
            comment.width, comment.height = 320, 160
            sheet.cell(row=1, column=columns.index(column) + 1).comment = comment
        for row in _SHEET_ROWS[sheet_name]:
            sheet.append([row[column] for column in columns])
    readme = book.create_sheet(README_SHEET)
    _write_header(readme, README_HEADER)
    for field in FIELDS:
        readme.append([field.sheet, field.column, field.required, field.meaning])
    readme.append(
        [
            "(all)",
            "",
            "",
            "Row 1 of each sheet is its header. Extra columns are allowed. Sheets other "
            "than schema, meta and concept, like this one, are ignored. Delete the example rows and add yours; "
            "then run `asasql validate` on the folder.",
        ]
    )
    readme.column_dimensions[get_column_letter(len(README_HEADER))].width = 110
    book.save(path)


def template_samples() -> list[dict[str, object]]:
    """The template's two labeled samples in the data_sample.json format."""
    samples = []
    for question, sql, schema_row, label in _SAMPLES:
        row = _SCHEMA_ROWS[schema_row]
        table = row["table_name"]
        description = next(meta["description"] for meta in _META_ROWS if meta["table"] == table)
        fields = (row["column_name"], row["column_name_zh"], row["description"], row["possible_value"])
        samples.append(
            {
                "origin_query": question,
                "sql": sql,
                "table_name": table,
                "table": f"({table};{description})",
                "column": f"({';'.join(fields)})",
                "label": label,
            }
        )
    return samples


def _check_target(target: Path, force: bool) -> None:
    """Refuse a target that is not a folder, or a non-empty folder without force."""
    if target.exists() and not target.is_dir():
        raise TemplateError(f"{target} exists and is not a folder")
    if not target.exists():
        return
    entries = sorted(entry.name for entry in target.iterdir())
    if entries and not force:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise TemplateError(
            f"{target} is not empty ({shown}); choose a new or empty folder, or pass --force to overwrite "
            f"{', '.join(TEMPLATE_FILES)} there (other files are kept)"
        )
    for name in TEMPLATE_FILES:
        if (target / name).exists() and not (target / name).is_file():
            raise TemplateError(f"{target / name} exists and is not a file; move it away first")


def _write_header(sheet: Worksheet, columns: tuple[str, ...]) -> None:
    """A bold header row, with each column wide enough to read."""
    sheet.append(list(columns))
    for index, column in enumerate(columns, start=1):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(index)].width = max(14, len(column) + 4)
