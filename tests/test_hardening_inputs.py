"""Hostile and malformed inputs: `validate`, `annotate import`, `predict --file` and `export` answer each with exit 2
and a located line, never a traceback, and reading stays within its bounds in cells, bytes and nesting."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from asasql_assets.cli.main import main
from asasql_resources.annotation import AnnotationError, export_workbook, read_workbook, workbook_status
from asasql_resources.domain import DomainValidationError, load_domain
from asasql_resources.domain.limits import MAX_CELLS, MAX_ISSUES, MAX_UNPACKED_BYTES
from asasql_resources.domain.xlsx import CellBudget, SheetProblem, open_workbook, read_table
from tests.domain_factory import DomainSpec, write_domain

XLSX, SAMPLES, YAML, DB = "description_full.xlsx", "data_sample.json", "domain.yaml", "database.duckdb"
SCHEMA_XML = "xl/worksheets/sheet1.xml"  # openpyxl writes the sheets in order: schema, meta, concept
LONG_NUMBER = "1" * 5000
Breaker = Callable[[Path], None]


def _validate(root: Path, capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    """Exit code and error lines of `asasql validate ROOT` run in this process."""
    with pytest.raises(SystemExit) as done:
        main(["validate", str(root)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return done.value.code, [line for line in err.splitlines() if line.startswith("error: ")]


def _rewrite(xlsx: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """Replace one member of a zip (an xlsx) by `change` of its bytes."""
    with zipfile.ZipFile(xlsx) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[member] = change(parts[member])
    with zipfile.ZipFile(xlsx, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def _cell(sheet: str, row: int, column: int, value: object) -> Callable[[DomainSpec], None]:
    return lambda spec: spec.sheets[sheet][row - 1].__setitem__(column, value)


def _sample_text(text: str) -> Breaker:
    return lambda root: (root / SAMPLES).write_text(text, encoding="utf-8")


def _replace_with_folder(name: str) -> Breaker:
    def breaker(root: Path) -> None:
        (root / name).unlink(missing_ok=True)
        (root / name).mkdir()

    return breaker


def _sample_with(key: str, raw: str) -> Breaker:
    """data_sample.json whose first item's `key` holds raw JSON text."""

    def breaker(root: Path) -> None:
        items = json.loads((root / SAMPLES).read_text(encoding="utf-8"))
        items[0][key] = "@@"
        text = json.dumps(items, ensure_ascii=False).replace('"@@"', raw, 1)
        (root / SAMPLES).write_text(text, encoding="utf-8")

    return breaker


def _truncate_schema(root: Path) -> None:
    _rewrite(root / XLSX, SCHEMA_XML, lambda data: data[: len(data) // 2])


def _long_number_cell(root: Path) -> None:
    _rewrite(root / XLSX, SCHEMA_XML, lambda data: data.replace(b"<v>424242</v>", f"<v>{LONG_NUMBER}</v>".encode()))


def _bomb(root: Path) -> None:
    """A member that unpacks past the bound: megabytes of zeros compress to almost nothing."""
    with zipfile.ZipFile(root / XLSX, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/pad.bin", b"\0" * (MAX_UNPACKED_BYTES + 1))


def _entity_bomb(root: Path) -> None:
    """Nested XML entities in a sheet (a "billion laughs"): expat refuses to expand them."""
    entities = b'<!ENTITY e0 "' + b"x" * 100 + b'">'
    entities += b"".join(b'<!ENTITY e%d "%s">' % (i, b"&e%d;" % (i - 1) * 10) for i in range(1, 9))

    def change(data: bytes) -> bytes:
        doctype = b"<!DOCTYPE worksheet [" + entities + b"]>"
        return doctype + data.replace(b"<v>424242</v>", b"<v>&e8;</v>", 1)

    _rewrite(root / XLSX, SCHEMA_XML, change)


def _overlong(xlsx: Path, placeholder: str, length: int) -> None:
    """Replace a cell's text by a longer one than Excel (or openpyxl, which cuts it) would write."""
    with zipfile.ZipFile(xlsx) as archive:
        member = next(name for name in archive.namelist() if placeholder.encode() in archive.read(name))
    _rewrite(xlsx, member, lambda data: data.replace(placeholder.encode(), b"x" * length, 1))


def _duplicate_sheet(root: Path) -> None:
    book = openpyxl.load_workbook(root / XLSX)
    book.create_sheet("SCHEMA ").append(["table_name", "column_name"])
    book.save(root / XLSX)


def _database(root: Path, statements: list[str]) -> None:
    with duckdb.connect(str(root / DB)) as con:
        for statement in statements:
            con.execute(statement)


_TABLES = [
    "CREATE TABLE orders (order_id INT, customer_id INT, status VARCHAR, amount DOUBLE)",
    "CREATE TABLE customers (customer_id INT, city VARCHAR)",
    "CREATE TABLE products (product_id INT, category VARCHAR)",
]

# name -> (a change to the spec before writing, a change to the written folder, file, fragment of the message)
CASES: dict[str, tuple[Callable[[DomainSpec], None] | None, Breaker | None, str, str]] = {
    "nested possible_value": (
        _cell("schema", 4, 5, "[" * 20_000),
        None,
        f"{XLSX} [schema] row 4, column possible_value",
        "nest deeper",
    ),
    "nested data_sample": (None, _sample_text("[" * 200_000), SAMPLES, "nest deeper than 32 levels (line 1"),
    "nested data_sample value": (None, _sample_with("sql", "[" * 5_000), SAMPLES, "nest deeper"),
    "5000-digit label": (None, _sample_with("label", LONG_NUMBER), SAMPLES, "5,000 digits"),
    "repeated key": (
        None,
        _sample_with("label", 'true, "label": false'),
        f"{SAMPLES} item 1, key label",
        "more than once",
    ),
    "lone surrogate": (None, _sample_with("sql", '"SELECT \\ud800"'), f"{SAMPLES} item 1, key sql", "lone surrogate"),
    "NaN label": (None, _sample_with("label", "NaN"), f"{SAMPLES} item 1, key label", "NaN"),
    "samples folder": (None, _replace_with_folder(SAMPLES), SAMPLES, "is a folder"),
    "samples device": (
        None,
        lambda root: ((root / SAMPLES).unlink(), (root / SAMPLES).symlink_to("/dev/zero")),
        SAMPLES,
        "not a regular file",
    ),
    "empty samples file": (None, _sample_text(""), SAMPLES, "not valid JSON"),
    "gold bank folder": (None, _replace_with_folder("gold_bank.json"), "gold_bank.json", "is a folder"),
    "yaml folder": (None, _replace_with_folder(YAML), YAML, "is a folder"),
    "yaml nested": (lambda spec: setattr(spec, "config", "a: " + "[" * 20_000), None, YAML, "YAML"),
    "yaml huge": (lambda spec: setattr(spec, "config", "# " + "x" * 2**21 + "\n"), None, YAML, "-byte bound"),
    "yaml not utf-8": (None, lambda root: (root / YAML).write_bytes(b"name: \xff\xfe\n"), YAML, "not UTF-8"),
    "yaml python tag": (
        lambda spec: setattr(spec, "config", "name: !!python/object:os.system x\n"),
        None,
        YAML,
        "YAML",
    ),
    "dialect prql": (lambda spec: setattr(spec, "config", "sql_dialect: prql\n"), None, f"{YAML} line 1", "prql"),
    "dialect dax": (lambda spec: setattr(spec, "config", "sql_dialect: dax\n"), None, f"{YAML} line 1", "dax"),
    "workbook folder": (None, _replace_with_folder(XLSX), XLSX, "is a folder"),
    "workbook empty": (None, lambda root: (root / XLSX).write_bytes(b""), XLSX, "not a readable .xlsx"),
    "truncated sheet": (None, _truncate_schema, f"{XLSX} [schema]", "cannot read the sheet from row"),
    "5000-digit cell": (
        _cell("schema", 2, 6, 424242),
        _long_number_cell,
        f"{XLSX} [schema] row 2",
        "more than 4,300 digits",
    ),
    "zip bomb": (None, _bomb, XLSX, "-byte bound on reading it"),
    "entity bomb": (_cell("schema", 2, 6, 424242), _entity_bomb, f"{XLSX} [schema]", "cannot read the sheet"),
    "duplicate sheet": (None, _duplicate_sheet, f"{XLSX} [schema]", "2 sheets are named 'schema' and 'SCHEMA '"),
    "duplicate header": (
        lambda spec: spec.sheets["meta"][0].append("Description"),
        None,
        f"{XLSX} [meta] row 1, column description",
        "columns B and C",
    ),
    "header past the bound": (
        lambda spec: spec.sheets["concept"][0].extend([None] * 300 + ["stray"]),
        None,
        f"{XLSX} [concept] row 1, column stray",
        "past the bound of 256 columns",
    ),
    "overlong cell": (
        _cell("concept", 2, 1, "LONG-CELL"),
        lambda root: _overlong(root / XLSX, "LONG-CELL", 40_000),
        f"{XLSX} [concept] row 2, column description",
        "40,000 characters",
    ),
    "case collision in a case-sensitive dialect": (
        lambda spec: (
            spec.sheets["schema"].append(["Orders", "note", "备注", "A note", "Why", None, "VARCHAR"]),
            setattr(spec, "config", "sql_dialect: clickhouse\n"),
        ),
        None,
        f"{XLSX} [schema] row 10, column table_name",
        "differ only in case",
    ),
    "database not duckdb": (None, lambda root: (root / DB).write_bytes(b"SQLite format 3\0" * 64), DB, "not a DuckDB"),
    "database empty file": (None, lambda root: (root / DB).write_bytes(b""), DB, "not a DuckDB"),
    "database folder": (None, _replace_with_folder(DB), DB, "is a folder"),
    "database without the tables": (
        None,
        lambda root: _database(root, ["CREATE TABLE elsewhere (x INT)"]),
        DB,
        "holds none of the catalog's 3 tables (it holds: elsewhere)",
    ),
    "database lacks a table": (
        None,
        lambda root: _database(root, [*_TABLES[:2], "CREATE VIEW products AS SELECT 1 AS product_id"]),
        DB,
        "'products' (a view)",
    ),
    "database tables in another schema": (
        None,
        lambda root: _database(root, ["CREATE SCHEMA s", *(t.replace("TABLE ", "TABLE s.") for t in _TABLES)]),
        DB,
        "holds none",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_validate_refuses_with_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    before, after, where, fragment = CASES[name]
    spec = DomainSpec()
    if before is not None:
        before(spec)
    root = write_domain(tmp_path / "shop", spec)
    if after is not None:
        after(root)
    code, errors = _validate(root, capsys)
    assert code == 2, errors
    assert any(line.startswith(f"error: {where}") and fragment in line for line in errors), errors


def test_a_database_locked_by_a_writer_fails_validate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_domain(tmp_path / "shop")
    _database(root, _TABLES)
    code, errors = _validate(root, capsys)
    assert code == 0, errors
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(root / DB)!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "1"
        code, errors = _validate(root, capsys)
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    assert errors == [next(line for line in errors if line.startswith(f"error: {DB}: is locked by another process"))]


def test_a_database_with_the_catalog_passes_and_missing_columns_warn(tmp_path: Path) -> None:
    root = write_domain(tmp_path / "shop")
    _database(root, [*_TABLES[:2], "CREATE TABLE products (product_id INT)"])
    domain = load_domain(root)
    assert domain.database_path == root / DB
    (warning,) = [issue for issue in domain.warnings if issue.file == DB]
    assert "products.category" in warning.message


def test_stray_cells_at_column_xfd_cost_one_cell_each(tmp_path: Path) -> None:
    spec = DomainSpec()
    spec.sheets["concept"] += [[f"entity {n}", "a concept"] for n in range(3000)]
    plain = write_domain(tmp_path / "plain", spec)
    stray = write_domain(tmp_path / "stray", spec)

    def add_stray_cells(data: bytes) -> bytes:  # one more cell per row, at column XFD
        return re.sub(rb'<row r="(?!1")(\d+)"(.*?)</row>', rb'<row r="\1"\2<c r="XFD\1"><v>7</v></c></row>', data)

    _rewrite(stray / XLSX, "xl/worksheets/sheet3.xml", add_stray_cells)
    timings = []
    for root in (plain, stray):
        start = time.perf_counter()
        assert load_domain(root).concepts.height == 3002
        timings.append(time.perf_counter() - start)
    assert timings[1] < 3 * timings[0] + 0.5, timings


def test_the_cell_budget_stops_reading(tmp_path: Path) -> None:
    root = write_domain(tmp_path / "shop")
    book = open_workbook(root / XLSX)
    try:
        with pytest.raises(SheetProblem, match=f"more than {MAX_CELLS:,} cells"):
            read_table(book["schema"], "schema", XLSX, CellBudget(left=20), [])
    finally:
        book.close()


def test_a_workbook_past_the_cell_bound_is_refused(tmp_path: Path) -> None:
    root = write_domain(tmp_path / "shop")
    row = b'<row r="%d"><c r="A%d"><v>1</v></c><c r="XFD%d"><v>2</v></c></row>'
    rows = b"".join(row % (n, n, n) for n in range(10, MAX_CELLS // 2 + 10))
    _rewrite(
        root / XLSX, "xl/worksheets/sheet3.xml", lambda data: data.replace(b"</sheetData>", rows + b"</sheetData>")
    )
    with pytest.raises(DomainValidationError) as caught:
        load_domain(root)
    (issue,) = caught.value.errors
    assert (issue.file, issue.sheet) == (XLSX, "concept") and f"more than {MAX_CELLS:,} cells" in issue.message


# --- annotate import: the returned workbook ---

ROUND, IDS = "round_1", ["c-1", "c-2"]


def _exported(tmp_path: Path) -> Path:
    items = pl.DataFrame(
        {
            "candidate_id": IDS,
            "question": ["How many orders?", "Paid orders"],
            "sql": ["SELECT count(*) FROM orders", "SELECT * FROM orders"],
            "schema_context": ["orders(order_id)"] * 2,
            "score": [0.9, 0.1],
        }
    )
    path = export_workbook(items, tmp_path / f"{ROUND}.xlsx", ROUND)
    book = openpyxl.load_workbook(path)
    book["labels"]["G2"], book["labels"]["G3"] = "correct", 424242
    book.save(path)
    return path


def _labels_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return next(n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith("1.xml"))


def _labels_header(book: openpyxl.Workbook) -> None:
    book["labels"]["J1"] = "LABEL"


def _second_labels_sheet(book: openpyxl.Workbook) -> None:
    book.create_sheet("Labels ").append(["candidate_id", "label"])


def _overlong_note(path: Path) -> None:
    _edit(path, lambda book: book["labels"].__setitem__("I2", "LONG-NOTE"))
    _overlong(path, "LONG-NOTE", 33_000)


ANNOTATION_CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "truncated labels sheet": (
        lambda path: _rewrite(path, _labels_xml(path), lambda data: data[: len(data) // 2]),
        "[labels]",
        "cannot read the sheet from row",
    ),
    "5000-digit label": (
        lambda path: _rewrite(
            path, _labels_xml(path), lambda d: d.replace(b"<v>424242</v>", LONG_NUMBER.encode().join((b"<v>", b"</v>")))
        ),
        "[labels]",
        "more than 4,300 digits",
    ),
    "repeated header": (lambda path: _edit(path, _labels_header), "[labels] row 1, column label", "columns G and J"),
    "second labels sheet": (lambda path: _edit(path, _second_labels_sheet), "[labels]", "2 sheets are named"),
    "overlong note": (_overlong_note, "[labels] row 2, column note", "33,000 characters"),
    "zip bomb": (
        lambda path: (
            zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED)
            .__enter__()
            .writestr("pad", b"\0" * (MAX_UNPACKED_BYTES + 1))
        ),
        "",
        "-byte bound",
    ),
    "folder": (lambda path: (path.unlink(), path.mkdir()), "", "is a folder"),
}


def _edit(path: Path, change: Callable[[openpyxl.Workbook], None]) -> None:
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)


@pytest.mark.parametrize("name", ANNOTATION_CASES)
def test_a_hostile_returned_workbook_gets_located_errors(tmp_path: Path, name: str) -> None:
    breaker, where, fragment = ANNOTATION_CASES[name]
    path = _exported(tmp_path)
    breaker(path)
    with pytest.raises(AnnotationError) as caught:
        read_workbook(path, ROUND, IDS)
    lines = [str(issue) for issue in caught.value.issues]
    assert any(line.startswith(f"{path}{' ' + where if where else ''}") and fragment in line for line in lines), lines
    assert not workbook_status(path).complete


# --- predict --file and export OUT ---


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return done.value.code, err


QUESTION_FILES: dict[str, tuple[bytes | None, str]] = {
    "nested": (b"[" * 100_000, "nest deeper than 32 levels (line 1, column 33)"),
    "5000-digit question": (b'[{"question": ' + LONG_NUMBER.encode() + b"}]", "5,000 digits"),
    "not a list": (b'{"question": "x"}', "not a JSON object"),
    "empty list": (b"[]", "holds no questions"),
    "item not an object": (b'[{"question": "ok"}, 7]', "item 2: must be a JSON object"),
    "missing question": (b'[{"query": "x"}]', "item 1, key question: expected a non-empty string, found missing"),
    "question a number": (
        b'[{"question": 3}]',
        "item 1, key question: expected a non-empty string, found a JSON number",
    ),
    "lone surrogate": (b'[{"question": "\\udc80"}]', "item 1, key question: not UTF-8 text"),
    "repeated key": (b'[{"question": "a", "question": "b"}]', "item 1, key question: the key appears more than once"),
    "not utf-8": (b"\xff\xfe[]", "not UTF-8 text"),
    "missing": (None, "the file is missing"),
}


@pytest.mark.parametrize("name", QUESTION_FILES)
def test_predict_file_refuses_malformed_questions(tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    content, fragment = QUESTION_FILES[name]
    questions = tmp_path / "questions.json"
    if content is not None:
        questions.write_bytes(content)
    code, err = _run(capsys, "predict", "--file", str(questions), "--home", str(tmp_path / "home"))
    assert code == 2 and err.startswith(f"error: {questions}") and fragment in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_predict_refuses_an_undecodable_question(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = _run(capsys, "predict", "how many \udcff rows", "--home", str(tmp_path / "home"))
    assert code == 2 and "not UTF-8 text" in err


def _out_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    return {
        "a folder": (tmp_path / "folder", "it is a folder"),
        "under a file": (tmp_path / "file" / "out.jsonl", "is a file, so it cannot hold out.jsonl"),
        "under a file, deeper": (tmp_path / "file" / "a" / "out.jsonl", "is a file"),
        "a name too long": (tmp_path / ("n" * 300), "File name too long"),
    }


@pytest.mark.parametrize("name", ["a folder", "under a file", "under a file, deeper", "a name too long"])
def test_export_and_predict_say_when_out_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str
) -> None:
    out, fragment = _out_cases(tmp_path)[name]
    home = str(tmp_path / "home")
    code, err = _run(capsys, "export", str(out), "--home", home)
    assert code == 2 and err.startswith(f"error: cannot write {out}") and fragment in err, err
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"question": "How many orders?"}]))
    code, err = _run(capsys, "predict", "--file", str(questions), "--out", str(out), "--home", home)
    assert code == 2 and err.startswith(f"error: cannot write {out}") and fragment in err, err
    assert (tmp_path / "file").read_text() == "x"


def test_write_json_is_atomic(tmp_path: Path) -> None:
    from asasql_assets.cli.outfile import write_json

    out = tmp_path / "new" / "out.json"
    write_json([{"a": 1}], out, lines=False)
    write_json([{"a": 2}, {"b": "\udc80"}], out, lines=True)
    assert out.read_text(encoding="utf-8").splitlines()[0] == '{"a": 2}'
    assert [path.name for path in out.parent.iterdir()] == ["out.json"], "no temporary file is left behind"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[" + ",".join(["{}"] * 1_000_100) + "]", "over the bound of 1,000,000 on reading it"),
        ("[" + ",".join(['"ab"'] * 100_001) + "]", "holds 100,001 items, over the bound of 100,000"),
    ],
    ids=["containers", "items"],
)
def test_json_files_are_bounded_before_their_items_are_read(tmp_path: Path, text: str, fragment: str) -> None:
    root = write_domain(tmp_path / "shop")
    (root / SAMPLES).write_text(text)
    with pytest.raises(DomainValidationError) as caught:
        load_domain(root)
    (issue,) = caught.value.errors
    assert issue.file == SAMPLES and fragment in issue.message


def test_a_file_full_of_problems_stops_at_the_issue_bound(tmp_path: Path) -> None:
    root = write_domain(tmp_path / "shop")
    (root / SAMPLES).write_text(json.dumps([{"label": "maybe"}] * 5000))
    with pytest.raises(DomainValidationError) as caught:
        load_domain(root)
    issues = [issue for issue in caught.value.errors if issue.file == SAMPLES]
    assert len(issues) <= MAX_ISSUES + 10 and "stopped reading after" in issues[-1].message
