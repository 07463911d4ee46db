"""Reading and checking a domain folder: every malformed input names its file, sheet, row and column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest

from asasql_resources.domain import (
    DomainIssue,
    DomainValidationError,
    load_domain,
    parse_label,
    parse_possible_values,
    validate_domain,
)
from tests.domain_factory import DomainSpec, write_domain

XLSX, SAMPLES, YAML = "description_full.xlsx", "data_sample.json", "domain.yaml"
GOLD, TEST = "gold_bank.json", "test_set.json"
PROJECT_DATA = Path(__file__).resolve().parents[1] / "project_data"

Mutation = Callable[[DomainSpec], None]


def _errors_of(root: Path) -> list[DomainIssue]:
    """The error issues that loading `root` raises (fails the test if it loads)."""
    with pytest.raises(DomainValidationError) as caught:
        load_domain(root)
    return caught.value.errors


def _set(sheet: str, row: int, column: int, value: object) -> Mutation:
    """A mutation that writes `value` into an Excel row (1 = header) and 0-based column of a sheet."""
    return lambda spec: spec.sheets[sheet][row - 1].__setitem__(column, value)


def _sample(item: int, key: str, value: object) -> Mutation:
    """A mutation that sets a key of a 1-based sample item."""
    return lambda spec: spec.samples[item - 1].__setitem__(key, value)


def _drop_key(attribute: str, item: int, key: str) -> Mutation:
    """A mutation that removes a key from a 1-based item of a JSON list file."""
    return lambda spec: getattr(spec, attribute)[item - 1].pop(key)


def _drop_column(sheet: str, name: str) -> Mutation:
    """A mutation that removes a column (header and cells) from a sheet."""

    def mutate(spec: DomainSpec) -> None:
        index = spec.sheets[sheet][0].index(name)
        spec.sheets[sheet] = [row[:index] + row[index + 1 :] for row in spec.sheets[sheet]]

    return mutate


def _setattr(attribute: str, value: object) -> Mutation:
    """A mutation that replaces a whole file's content."""
    return lambda spec: setattr(spec, attribute, value)


# (id, mutation, (file, sheet, row, column), a fragment of the message)
MALFORMED_CASES: list[tuple[str, Mutation, tuple[str, str | None, int | None, str | None], str]] = [
    ("missing_schema_sheet", lambda s: s.sheets.pop("schema"), (XLSX, "schema", None, None), "missing sheet 'schema'"),
    ("missing_meta_sheet", lambda s: s.sheets.pop("meta"), (XLSX, "meta", None, None), "missing sheet 'meta'"),
    ("missing_concept_sheet", lambda s: s.sheets.pop("concept"), (XLSX, "concept", None, None), "missing sheet"),
    (
        "missing_schema_column",
        _drop_column("schema", "possible_value"),
        (XLSX, "schema", 1, "possible_value"),
        "missing required column 'possible_value'",
    ),
    (
        "missing_meta_column",
        _drop_column("meta", "description"),
        (XLSX, "meta", 1, "description"),
        "missing required column",
    ),
    (
        "missing_concept_column",
        _drop_column("concept", "entity"),
        (XLSX, "concept", 1, "entity"),
        "missing required column",
    ),
    ("empty_table_name", _set("schema", 3, 0, "  "), (XLSX, "schema", 3, "table_name"), "empty table_name"),
    ("empty_column_name", _set("schema", 5, 1, None), (XLSX, "schema", 5, "column_name"), "empty column_name"),
    (
        "duplicate_column",
        _set("schema", 5, 1, "status"),
        (XLSX, "schema", 5, "column_name"),
        "duplicate column orders.status: rows 4 and 5",
    ),
    (
        "malformed_json_list",
        _set("schema", 7, 5, '["a" "b"]'),
        (XLSX, "schema", 7, "possible_value"),
        "malformed JSON list: Expecting ',' delimiter",
    ),
    (
        "unclosed_json_list",
        _set("schema", 4, 5, '["paid", "shipped"'),
        (XLSX, "schema", 4, "possible_value"),
        "malformed JSON list",
    ),
    (
        "json_object_not_list",
        _set("schema", 2, 5, '{"a": 1}'),
        (XLSX, "schema", 2, "possible_value"),
        "must be a JSON list, not a JSON object",
    ),
    (
        "json_string_not_list",
        _set("schema", 2, 5, '"paid"'),
        (XLSX, "schema", 2, "possible_value"),
        "not a JSON string",
    ),
    ("meta_unknown_table", _set("meta", 3, 0, "clients"), (XLSX, "meta", 3, "table"), "unknown table 'clients'"),
    (
        "meta_duplicate_row",
        _set("meta", 4, 0, "orders"),
        (XLSX, "meta", 4, "table"),
        "duplicate meta row for table 'orders': rows 2 and 4",
    ),
    ("concept_empty_entity", _set("concept", 2, 0, ""), (XLSX, "concept", 2, "entity"), "empty entity"),
    ("samples_not_json", _setattr("samples", '[{"sql": }]'), (SAMPLES, None, None, None), "not valid JSON"),
    (
        "samples_not_list",
        _setattr("samples", '{"sql": "SELECT 1"}'),
        (SAMPLES, None, None, None),
        "must be a JSON list of objects, not a JSON object",
    ),
    ("samples_empty_list", _setattr("samples", "[]"), (SAMPLES, None, None, None), "no samples"),
    (
        "sample_not_object",
        lambda s: s.samples.__setitem__(1, "SELECT 1"),
        (SAMPLES, None, 2, None),
        "must be a JSON object, not a JSON string",
    ),
    ("sample_missing_sql", _drop_key("samples", 3, "sql"), (SAMPLES, None, 3, "sql"), "missing key"),
    ("sample_missing_column_key", _drop_key("samples", 1, "column"), (SAMPLES, None, 1, "column"), "missing key"),
    ("sample_empty_sql", _sample(2, "sql", "   "), (SAMPLES, None, 2, "sql"), "empty"),
    ("sample_empty_query", _sample(1, "origin_query", ""), (SAMPLES, None, 1, "origin_query"), "empty"),
    ("sample_sql_not_text", _sample(1, "sql", ["SELECT 1"]), (SAMPLES, None, 1, "sql"), "must be a string"),
    ("sample_bad_label", _sample(3, "label", "maybe"), (SAMPLES, None, 3, "label"), "cannot read 'maybe' as a boolean"),
    ("sample_numeric_label", _sample(1, "label", 2), (SAMPLES, None, 1, "label"), "cannot read 2 as a boolean"),
    (
        "sample_unknown_table",
        _sample(2, "table_name", "clients"),
        (SAMPLES, None, 2, "table_name"),
        "table 'clients' is not in the catalog",
    ),
    ("gold_missing_question", _drop_key("gold_bank", 1, "question"), (GOLD, None, 1, "question"), "missing key"),
    ("gold_not_list", _setattr("gold_bank", '"SELECT 1"'), (GOLD, None, None, None), "must be a JSON list"),
    ("test_missing_sql", _drop_key("test_set", 2, "sql"), (TEST, None, 2, "sql"), "missing key"),
    (
        "test_bad_category",
        lambda s: s.test_set[0].__setitem__("category", 3),
        (TEST, None, 1, "category"),
        "must be a string",
    ),
    ("yaml_not_mapping", _setattr("config", "- duckdb\n- zh\n"), (YAML, None, None, None), "must be a mapping"),
    (
        "yaml_unknown_language",
        _setattr("config", "name: shop\nlanguage: fr\n"),
        (YAML, None, 2, "language"),
        "unknown language 'fr'",
    ),
    (
        "yaml_unknown_dialect",
        _setattr("config", "sql_dialect: nosuchsql\n"),
        (YAML, None, 1, "sql_dialect"),
        "unknown SQL dialect 'nosuchsql'",
    ),
    ("yaml_invalid", _setattr("config", "name: [shop\n"), (YAML, None, 2, None), "not valid YAML"),
    ("missing_samples_file", _setattr("samples", None), (SAMPLES, None, None, None), "required file is missing"),
]


@pytest.mark.parametrize(
    ("mutate", "where", "fragment"), [case[1:] for case in MALFORMED_CASES], ids=[case[0] for case in MALFORMED_CASES]
)
def test_malformed_domain_names_the_place(
    tmp_path: Path, mutate: Mutation, where: tuple[str, str | None, int | None, str | None], fragment: str
) -> None:
    spec = DomainSpec()
    mutate(spec)
    errors = _errors_of(write_domain(tmp_path / "shop", spec))
    assert [(e.file, e.sheet, e.row, e.column) for e in errors] == [where], [str(e) for e in errors]
    assert fragment in errors[0].message


def test_issue_text_names_file_sheet_row_and_column(tmp_path: Path) -> None:
    spec = DomainSpec()
    _set("schema", 7, 5, '["北京" "上海"]')(spec)
    _sample(2, "label", "maybe")(spec)
    spec.config = "name: shop\nlanguage: fr\n"
    with pytest.raises(DomainValidationError) as caught:
        load_domain(write_domain(tmp_path / "shop", spec))
    assert str(caught.value).splitlines() == [
        "description_full.xlsx [schema] row 7, column possible_value: malformed JSON list: Expecting ',' delimiter",
        "data_sample.json item 2, key label: cannot read 'maybe' as a boolean",
        "domain.yaml line 2, key language: unknown language 'fr' (use one of: en, zh)",
    ]
    warning = DomainIssue(XLSX, "empty reason", "schema", 3, "reason", severity="warning")
    assert str(warning) == "warning: description_full.xlsx [schema] row 3, column reason: empty reason"


def test_missing_folder_and_missing_workbook(tmp_path: Path) -> None:
    errors = _errors_of(tmp_path / "nowhere")
    assert [e.file for e in errors] == [str(tmp_path / "nowhere")]
    root = write_domain(tmp_path / "shop")
    (root / XLSX).unlink()
    errors = _errors_of(root)
    assert [(e.file, e.message) for e in errors] == [(XLSX, "the required file is missing")]


def test_damaged_workbook_is_an_error(tmp_path: Path) -> None:
    root = write_domain(tmp_path / "shop")
    (root / XLSX).write_bytes(b"not a zip file")
    errors = _errors_of(root)
    assert [(e.file, e.sheet, e.row) for e in errors] == [(XLSX, None, None)]
    assert errors[0].message.startswith("cannot read the workbook")


def test_every_error_is_reported_with_warnings_in_the_message(tmp_path: Path) -> None:
    spec = DomainSpec()
    _set("schema", 3, 0, "")(spec)
    _set("schema", 6, 5, "[1,")(spec)
    _set("schema", 8, 3, "")(spec)  # empty description: a warning
    _set("meta", 4, 0, "clients")(spec)
    _sample(1, "label", "perhaps")(spec)
    _drop_key("samples", 2, "origin_query")(spec)
    spec.config = "language: de\n"
    with pytest.raises(DomainValidationError) as caught:
        load_domain(write_domain(tmp_path / "shop", spec))
    places = [(e.file, e.sheet, e.row, e.column) for e in caught.value.errors]
    assert places == [
        (XLSX, "schema", 3, "table_name"),
        (XLSX, "schema", 6, "possible_value"),
        (XLSX, "meta", 4, "table"),
        (SAMPLES, None, 1, "label"),
        (SAMPLES, None, 2, "origin_query"),
        (YAML, None, 1, "language"),
    ]
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.issues) == 8
    assert "warning: description_full.xlsx [schema] row 8, column description: empty description" in lines
    assert "warning: description_full.xlsx [meta]: table 'products' has no meta row; its description is empty" in lines


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("running, stopped", ["running", "stopped"]),
        ("运行、停止、故障", ["运行", "停止", "故障"]),
        ("甲，乙", ["甲", "乙"]),
        ("idle", ["idle"]),
    ],
)
def test_plain_lists_are_read_with_a_warning(tmp_path: Path, cell: str, expected: list[str]) -> None:
    spec = DomainSpec()
    _set("schema", 4, 5, cell)(spec)
    domain = load_domain(write_domain(tmp_path / "shop", spec))
    assert domain.catalog.filter(pl.col("sheet_row") == 4)["possible_values"].to_list() == [expected]
    assert [(w.file, w.sheet, w.row, w.column, w.severity) for w in domain.warnings] == [
        (XLSX, "schema", 4, "possible_value", "warning")
    ]
    assert "not a JSON list" in domain.warnings[0].message


def test_possible_values_json_forms() -> None:
    assert parse_possible_values("") == ([], None)
    assert parse_possible_values('[1, "a", true]') == (["1", "a", "true"], None)
    with pytest.raises(ValueError, match="malformed JSON list"):
        parse_possible_values("['a', 'b']")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        ("true", True),
        ("FALSE", False),
        (" True ", True),
        ("1", True),
        ("0", False),
        ("correct", True),
        ("Incorrect", False),
        ("YES", True),
        ("no", False),
    ],
)
def test_label_spellings(value: object, expected: bool) -> None:
    assert parse_label(value) is expected


@pytest.mark.parametrize("value", ["maybe", "", None, 2, -1, 0.5, [True], {"v": 1}])
def test_unreadable_labels(value: object) -> None:
    with pytest.raises(ValueError, match="as a boolean"):
        parse_label(value)


def test_valid_domain_loads_with_types(tmp_path: Path) -> None:
    domain = load_domain(write_domain(tmp_path / "shop"))
    assert domain.warnings == []
    assert domain.catalog.schema == pl.Schema(
        {
            "table_name": pl.String,
            "column_name": pl.String,
            "column_name_zh": pl.String,
            "description": pl.String,
            "reason": pl.String,
            "possible_values": pl.List(pl.String),
            "data_type": pl.String,
            "table_description": pl.String,
            "sheet_row": pl.Int64,
        }
    )
    assert domain.catalog.height == 8
    status = domain.catalog.row(2, named=True)
    assert status["possible_values"] == ["paid", "shipped", "cancelled"]
    assert (status["table_description"], status["data_type"]) == ("One row per order", "VARCHAR")
    assert status["sheet_row"] == 4
    assert domain.catalog["data_type"].to_list()[-1] is None
    assert domain.samples.schema == pl.Schema(
        {
            "sample_id": pl.Int64,
            "origin_query": pl.String,
            "sql": pl.String,
            "table_name": pl.String,
            "table": pl.String,
            "column": pl.String,
            "label": pl.Boolean,
        }
    )
    assert domain.samples["sample_id"].to_list() == [0, 1, 2]
    assert domain.samples["label"].to_list() == [True, False, True]
    assert domain.concepts.columns == ["entity", "description"] and domain.concepts.height == 2
    assert domain.gold_bank is not None and domain.gold_bank["category"].to_list() == [None, None]
    assert domain.test_set is not None and domain.test_set["category"].to_list() == ["aggregate", None]
    assert domain.config.name == "shop" and domain.config.language == "zh" and domain.config.sql_dialect == "duckdb"
    assert domain.config.extra == {"owner": "data-team"}
    assert domain.database_path is None


def test_whitespace_header_case_extra_columns_and_empty_rows(tmp_path: Path) -> None:
    spec = DomainSpec()
    schema = spec.sheets["schema"]
    schema[0] = [f"  {name.upper()} " for name in schema[0]] + ["Notes", None, "source"]
    schema[1] = [f" {cell} " if isinstance(cell, str) else cell for cell in schema[1]] + ["ignored", "x", "y"]
    schema[3:3] = [[None, "  ", None], []]  # a blank row and a gap: skipped, later rows keep their Excel numbers
    spec.sheets["meta"].append([])
    domain = load_domain(write_domain(tmp_path / "shop", spec))
    assert domain.catalog.columns == [
        "table_name",
        "column_name",
        "column_name_zh",
        "description",
        "reason",
        "possible_values",
        "data_type",
        "table_description",
        "sheet_row",
    ]
    assert domain.catalog.row(0)[:2] == ("orders", "order_id")
    assert domain.catalog["sheet_row"].to_list() == [2, 3, 6, 7, 8, 9, 10, 11]
    assert domain.warnings == []


def test_schema_without_data_type_and_table_without_meta(tmp_path: Path) -> None:
    spec = DomainSpec()
    _drop_column("schema", "data_type")(spec)
    spec.sheets["meta"].pop()  # products has no meta row
    _set("schema", 2, 2, None)(spec)  # empty column_name_zh: a warning
    domain = load_domain(write_domain(tmp_path / "shop", spec))
    assert domain.catalog["data_type"].null_count() == domain.catalog.height
    assert set(domain.catalog.filter(pl.col("table_name") == "products")["table_description"]) == {""}
    places = [(w.sheet, w.row, w.column) for w in domain.warnings]
    assert places == [("schema", 2, "column_name_zh"), ("meta", None, None)]
    assert validate_domain(tmp_path / "shop") == domain.warnings


def test_optional_files_absent(tmp_path: Path) -> None:
    spec = DomainSpec(gold_bank=None, test_set=None, config=None)
    root = write_domain(tmp_path / "plant", spec)
    with duckdb.connect(str(root / "database.duckdb")) as con:
        con.execute("CREATE TABLE orders (order_id INT, customer_id INT, status VARCHAR, amount DOUBLE)")
        con.execute("CREATE TABLE customers (customer_id INT, city VARCHAR)")
        con.execute("CREATE TABLE products (product_id INT, category VARCHAR)")
    domain = load_domain(root)
    assert domain.gold_bank is None and domain.test_set is None
    assert domain.config.name == "plant" and domain.config.sql_dialect == "duckdb" and domain.config.language == "en"
    assert domain.config.description == "" and domain.config.extra == {}
    assert domain.database_path == root / "database.duckdb"


def test_load_does_not_write(tmp_path: Path) -> None:
    root = write_domain(tmp_path / "shop")
    before = {p: p.stat().st_mtime_ns for p in root.iterdir()}
    load_domain(root)
    assert {p: p.stat().st_mtime_ns for p in root.iterdir()} == before


def test_sheet_names_match_case_insensitively(tmp_path: Path) -> None:
    spec = DomainSpec()
    spec.sheets = {name.capitalize(): rows for name, rows in spec.sheets.items()}
    domain = load_domain(write_domain(tmp_path / "shop", spec))
    assert domain.catalog.height == 8


@pytest.mark.skipif(not (PROJECT_DATA / XLSX).exists(), reason="project_data/description_full.xlsx is not built yet")
def test_project_data_loads() -> None:
    domain = load_domain(PROJECT_DATA)
    assert domain.catalog.height >= 60
    assert domain.samples.height > 0


def test_multi_table_sample_names_each_table(tmp_path: Path) -> None:
    spec = DomainSpec()
    spec.samples[0]["table_name"] = "orders, customers"
    assert load_domain(write_domain(tmp_path / "ok", spec)).samples["table_name"][0] == "orders, customers"
    spec.samples[0]["table_name"] = "orders,refunds"
    (issue,) = _errors_of(write_domain(tmp_path / "bad", spec))
    assert (issue.file, issue.row, issue.column) == (SAMPLES, 1, "table_name")
    assert "'refunds'" in issue.message


def test_names_match_the_catalog_in_any_case_where_the_dialect_folds_them(tmp_path: Path) -> None:
    spec = DomainSpec()
    spec.samples[0]["table_name"] = "ORDERS, Customers"
    spec.sheets["meta"][1][0] = "Orders"
    loaded = load_domain(write_domain(tmp_path / "folded", spec))
    assert loaded.samples["table_name"][0] == "orders,customers", "stored as the catalog spells it"
    assert loaded.catalog.filter(pl.col("table_name") == "orders")["table_description"][0] == "One row per order"
    spec.config = spec.config.replace("sql_dialect: duckdb", "sql_dialect: clickhouse")  # case-sensitive names
    issues = _errors_of(write_domain(tmp_path / "sensitive", spec))
    assert any(issue.column == "table_name" and "'ORDERS'" in issue.message for issue in issues), issues
    assert any("meta row for unknown table 'Orders'" in issue.message for issue in issues), issues


def test_names_that_differ_only_in_case_are_a_collision(tmp_path: Path) -> None:
    spec = DomainSpec()
    duplicate = list(spec.sheets["schema"][1])
    duplicate[1] = duplicate[1].upper()
    spec.sheets["schema"].append(duplicate)
    issues = _errors_of(write_domain(tmp_path / "clash", spec))
    assert any("differ only in case" in issue.message for issue in issues), issues


def test_a_test_split_is_seen_or_unseen(tmp_path: Path) -> None:
    spec = DomainSpec()
    spec.test_set[0]["split"] = "unseen"
    loaded = load_domain(write_domain(tmp_path / "ok", spec))
    assert loaded.test_set["split"].to_list()[:2] == ["unseen", None]
    spec.test_set[0]["split"] = "held-out"
    (issue,) = _errors_of(write_domain(tmp_path / "bad", spec))
    assert (issue.file, issue.row, issue.column) == ("test_set.json", 1, "split")
