"""Tests of the annotation workbook: export, the checked import of every kind of bad edit, and the sensor status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from asasql_resources.annotation import (
    AnnotationError,
    export_workbook,
    ids_fingerprint,
    read_workbook,
    workbook_status,
)

ROUND = "round_3"
IDS = ["c-1", "c-2", "c-3", "c-4"]
# Excel columns of the labels sheet.
CANDIDATE_ID, LABEL, CORRECTED_SQL, NOTE = "A", "G", "H", "I"


def _items() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "candidate_id": IDS,
            "question": ["How many orders?", "Paid orders", "Top city", "=Revenue?"],
            "sql": [
                "SELECT count(*) FROM orders",
                "SELECT * FROM orders WHERE status = 'paid'",
                "SELECT city FROM customers\x07 LIMIT 1",
                "SELECT sum(amount) FROM orders",
            ],
            "schema_context": ["orders(order_id, status, amount)"] * 4,
            "score": [0.91234, 0.5, 0.49999, 0.05],
        }
    )


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    return export_workbook(_items(), tmp_path / f"{ROUND}.xlsx", ROUND)


def _edit(path: Path, change: Callable[[openpyxl.Workbook], None]) -> Path:
    """Open the workbook as an annotator's spreadsheet program would, change it, save it."""
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)
    return path


def _labels(book: openpyxl.Workbook) -> Worksheet:
    return book["labels"]


def _fill_all(book: openpyxl.Workbook) -> None:
    for row, value in zip(range(2, 6), ["correct", " Incorrect ", True, 0], strict=True):
        _labels(book)[f"{LABEL}{row}"] = value


def _set(cell: str, value: object, sheet: str = "labels") -> Callable[[openpyxl.Workbook], None]:
    def change(book: openpyxl.Workbook) -> None:
        _fill_all(book)
        book[sheet][cell] = value

    return change


def _delete_row(row: int) -> Callable[[openpyxl.Workbook], None]:
    def change(book: openpyxl.Workbook) -> None:
        _fill_all(book)
        _labels(book).delete_rows(row)

    return change


def _append_row(book: openpyxl.Workbook) -> None:
    _fill_all(book)
    _labels(book).append(["c-99", "new?", "SELECT 1", "", 0.5, "correct", "correct"])


def _drop_sheet(name: str) -> Callable[[openpyxl.Workbook], None]:
    def change(book: openpyxl.Workbook) -> None:
        _fill_all(book)
        del book[name]

    return change


def test_round_trip_reads_every_accepted_label_form(exported: Path) -> None:
    def annotate(book: openpyxl.Workbook) -> None:
        _fill_all(book)
        sheet = _labels(book)
        sheet[f"{LABEL}5"] = "1"
        sheet[f"{CORRECTED_SQL}3"] = "  SELECT count(*) FROM orders WHERE status = 'paid'  "
        sheet[f"{NOTE}3"] = "needs a count"

    frame = read_workbook(_edit(exported, annotate), ROUND, IDS)
    assert frame.to_dicts() == [
        {"row": 2, "candidate_id": "c-1", "label": True, "corrected_sql": None, "note": None},
        {
            "row": 3,
            "candidate_id": "c-2",
            "label": False,
            "corrected_sql": "SELECT count(*) FROM orders WHERE status = 'paid'",
            "note": "needs a count",
        },
        {"row": 4, "candidate_id": "c-3", "label": True, "corrected_sql": None, "note": None},
        {"row": 5, "candidate_id": "c-4", "label": True, "corrected_sql": None, "note": None},
    ]
    assert frame.schema == pl.Schema(
        {"row": pl.Int64, "candidate_id": pl.String, "label": pl.Boolean, "corrected_sql": pl.String, "note": pl.String}
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("correct", True),
        ("CORRECT", True),
        (" incorrect ", False),
        ("true", True),
        ("False", False),
        ("yes", True),
        ("No", False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        (True, True),
        (False, False),
    ],
)
def test_label_forms(exported: Path, value: object, expected: bool) -> None:
    frame = read_workbook(_edit(exported, _set(f"{LABEL}2", value)), ROUND, IDS)
    assert frame["label"][0] is expected


def test_sorted_rows_are_read_in_sheet_order(exported: Path) -> None:
    def reverse(book: openpyxl.Workbook) -> None:
        _fill_all(book)
        sheet = _labels(book)
        rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
        for number, values in enumerate(reversed(rows), start=2):
            for column, value in enumerate(values, start=1):
                sheet.cell(number, column, value)

    frame = read_workbook(_edit(exported, reverse), ROUND, IDS)
    assert frame["candidate_id"].to_list() == list(reversed(IDS))
    assert frame["label"].to_list() == [False, True, False, True]


def test_export_writes_suggestions_dropdown_and_about_sheet(exported: Path) -> None:
    book = openpyxl.load_workbook(exported)
    sheet = _labels(book)
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "candidate_id",
        "question",
        "sql",
        "schema_context",
        "score",
        "suggestion",
        "label",
        "corrected_sql",
        "note",
    )
    assert [row[4] for row in rows[1:]] == [0.912, 0.5, 0.5, 0.05]
    assert [row[5] for row in rows[1:]] == ["correct", "correct", "incorrect", "incorrect"]
    assert rows[3][2] == "SELECT city FROM customers LIMIT 1", "control characters are dropped"
    assert rows[4][1] == "=Revenue?" and sheet["B5"].data_type == "s", "text that starts with = is not a formula"
    assert all(row[6:] == (None, None, None) for row in rows[1:])
    assert sheet.freeze_panes == "A2"
    assert sheet["C2"].alignment.wrap_text and sheet["D2"].alignment.wrap_text
    assert sheet.column_dimensions["C"].width >= 40
    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list" and validation.formula1 == '"correct,incorrect"'
    assert str(validation.sqref) == f"{LABEL}2:{LABEL}5"
    assert validation.showErrorMessage and validation.errorStyle == "stop" and validation.error
    about = {row[0]: row[1] for row in book["about"].iter_rows(values_only=True) if row[0]}
    assert about["round_key"] == ROUND and about["rows"] == 4
    assert about["fingerprint"] == ids_fingerprint(reversed(IDS))
    assert any("labels" in str(key) for key in about), "the about sheet carries instructions"


def test_export_is_atomic_and_keeps_annotations(tmp_path: Path, exported: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == [exported.name]
    export_workbook(_items(), exported, ROUND)  # nothing labeled yet: replaced without fuss
    _edit(exported, _set(f"{NOTE}3", "looked at it"))
    before = exported.read_bytes()
    with pytest.raises(FileExistsError, match=r"round_3.xlsx already holds annotations on 4 of 4 row.*overwrite=True"):
        export_workbook(_items(), exported, ROUND)
    assert exported.read_bytes() == before
    export_workbook(_items(), exported, ROUND, overwrite=True)
    assert workbook_status(exported).edited == 0
    exported.write_bytes(b"half a zip")
    with pytest.raises(FileExistsError, match="cannot be read"):
        export_workbook(_items(), exported, ROUND)
    assert sorted(p.name for p in tmp_path.iterdir()) == [exported.name], "no temporary file is left behind"


@pytest.mark.parametrize(
    "items, message",
    [
        (_items().drop("score"), "lack the column"),
        (_items().head(0), "no items"),
        (_items().with_columns(pl.lit("same").alias("candidate_id")), "repeated: same"),
        (_items().with_columns(pl.lit(" ").alias("candidate_id")), "empty candidate_id"),
    ],
)
def test_export_refuses_bad_items(tmp_path: Path, items: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        export_workbook(items, tmp_path / "w.xlsx", ROUND)
    assert list(tmp_path.iterdir()) == []


# Each bad edit, and the (sheet, row, column, message fragment) of every issue it must give.
BAD_EDITS = {
    "label outside the list": (_set(f"{LABEL}3", "maybe"), [("labels", 3, "label", "'maybe' is not a label")]),
    "missing label": (_set(f"{LABEL}4", None), [("labels", 4, "label", "missing label")]),
    "corrected sql on a correct row": (
        _set(f"{CORRECTED_SQL}2", "SELECT 1"),
        [("labels", 2, "corrected_sql", "labeled correct")],
    ),
    "changed id": (
        _set(f"{CANDIDATE_ID}3", "c-x"),
        [("labels", 3, "candidate_id", "'c-x' was not exported"), ("labels", None, "candidate_id", "'c-2' is missing")],
    ),
    "duplicated id": (
        _set(f"{CANDIDATE_ID}4", "c-1"),
        [("labels", 4, "candidate_id", "repeats row 2"), ("labels", None, "candidate_id", "'c-3' is missing")],
    ),
    "emptied id": (
        _set(f"{CANDIDATE_ID}5", None),
        [("labels", 5, "candidate_id", "empty candidate id"), ("labels", None, "candidate_id", "'c-4' is missing")],
    ),
    "removed row": (
        _delete_row(3),
        [("labels", None, None, "3 data rows, but 4"), ("labels", None, "candidate_id", "'c-2' is missing")],
    ),
    "added row": (
        _append_row,
        [("labels", 6, "candidate_id", "'c-99' was not exported"), ("labels", None, None, "5 data rows, but 4")],
    ),
    "wrong round": (_set("B2", "round_2", sheet="about"), [("about", 2, "value", "for 'round_2', not 'round_3'")]),
    "about field deleted": (_set("A4", None, sheet="about"), [("about", None, "field", "missing field 'fingerprint'")]),
    "about sheet deleted": (_drop_sheet("about"), [("about", None, None, "cannot tell which round")]),
    "labels sheet deleted": (_drop_sheet("labels"), [("labels", None, None, "missing sheet")]),
    "label column renamed": (_set(f"{LABEL}1", "verdict"), [("labels", 1, "label", "missing column")]),
}


@pytest.mark.parametrize("name", BAD_EDITS)
def test_bad_edit_is_located(exported: Path, name: str) -> None:
    change, expected = BAD_EDITS[name]
    with pytest.raises(AnnotationError) as caught:
        read_workbook(_edit(exported, change), ROUND, IDS)
    found = [(i.sheet, i.row, i.column, i.message) for i in caught.value.issues]
    assert len(found) == len(expected), found
    for (sheet, row, column, message), issue in zip(expected, caught.value.issues, strict=True):
        assert (issue.sheet, issue.row, issue.column) == (sheet, row, column)
        assert message in issue.message and issue.file == str(exported)
    assert all(str(issue) in str(caught.value) for issue in caught.value.issues)


def test_every_problem_is_reported_at_once(exported: Path) -> None:
    def many(book: openpyxl.Workbook) -> None:
        _fill_all(book)
        sheet = _labels(book)
        sheet[f"{LABEL}2"] = "perhaps"
        sheet[f"{LABEL}3"] = None
        sheet[f"{CORRECTED_SQL}4"] = "SELECT 2"
        sheet[f"{CANDIDATE_ID}5"] = "c-1"
        book["about"]["B2"] = "round_1"

    with pytest.raises(AnnotationError) as caught:
        read_workbook(_edit(exported, many), ROUND, IDS)
    places = {(i.sheet, i.row, i.column) for i in caught.value.issues}
    assert places == {
        ("about", 2, "value"),
        ("labels", 2, "label"),
        ("labels", 3, "label"),
        ("labels", 4, "corrected_sql"),
        ("labels", 5, "candidate_id"),
        ("labels", None, "candidate_id"),
    }
    text = str(caught.value)
    assert f"{exported} [labels] row 2, column label: 'perhaps' is not a label" in text


def test_incomplete_workbook_reads_when_allowed(exported: Path) -> None:
    def two(book: openpyxl.Workbook) -> None:
        _labels(book)[f"{LABEL}2"] = "incorrect"
        _labels(book)[f"{CORRECTED_SQL}3"] = "SELECT 3"

    path = _edit(exported, two)
    with pytest.raises(AnnotationError, match="row 3, column label: missing label"):
        read_workbook(path, ROUND, IDS)
    frame = read_workbook(path, ROUND, IDS, require_complete=False)
    assert frame["label"].to_list() == [False, None, None, None]
    assert frame["corrected_sql"].to_list() == [None, "SELECT 3", None, None]


def test_other_selection_is_refused(exported: Path) -> None:
    with pytest.raises(AnnotationError) as caught:
        read_workbook(_edit(exported, _fill_all), ROUND, [*IDS, "c-5"])
    assert [(i.sheet, i.row, i.column) for i in caught.value.issues] == [
        ("about", 4, "value"),
        ("labels", None, None),
        ("labels", None, "candidate_id"),
    ]
    assert "exported for other candidates" in caught.value.issues[0].message


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.xlsx", None, "no such file"),
        ("garbage.xlsx", b"not a zip at all", "not a readable .xlsx workbook"),
        ("labels.csv", b"candidate_id,label\nc-1,correct\n", "not a readable .xlsx workbook"),
        ("folder.xlsx", "dir", "not a file"),
    ],
)
def test_unreadable_file_names_the_path(tmp_path: Path, name: str, content: bytes | str | None, message: str) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(AnnotationError) as caught:
        read_workbook(path, ROUND, IDS)
    (issue,) = caught.value.issues
    assert issue.file == str(path) and message in issue.message
    assert str(caught.value).startswith(f"{path}: ")


def test_status_follows_the_annotation(exported: Path) -> None:
    fresh = workbook_status(exported)
    assert (fresh.round_key, fresh.rows, fresh.labeled, fresh.edited, fresh.complete) == (ROUND, 4, 0, 0, False)
    assert fresh.readable and fresh.path == exported
    partial = workbook_status(_edit(exported, _set(f"{LABEL}3", "maybe")))
    assert (partial.labeled, partial.edited, partial.complete) == (3, 4, False)
    done = workbook_status(_edit(exported, _fill_all))
    assert (done.labeled, done.complete) == (4, True)


def test_status_never_raises(tmp_path: Path, exported: Path) -> None:
    half = tmp_path / "half.xlsx"
    half.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    no_labels = _edit(exported, _drop_sheet("labels"))
    for path in (half, tmp_path / "missing.xlsx", tmp_path, no_labels):
        status = workbook_status(path)
        assert not status.readable and status.error and not status.complete
        assert (status.rows, status.labeled) == (0, 0)
