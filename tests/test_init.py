"""`asasql init`: the template domain validates, a non-empty folder is refused, --force, and the docs match it."""

import json
import re
import subprocess
import sys
from itertools import takewhile
from pathlib import Path

import openpyxl
import pytest
import yaml

from asasql_assets.cli.main import build_parser
from asasql_resources.domain import load_domain
from asasql_resources.domain.samples import SAMPLE_TEXT_KEYS
from asasql_resources.domain.template import (
    FIELDS,
    README_SHEET,
    SHEET_COLUMNS,
    TEMPLATE_FILES,
    TemplateError,
    write_template,
)
from asasql_resources.domain.workbook import REQUIRED_COLUMNS

ASASQL = str(Path(sys.executable).with_name("asasql"))
ROOT = Path(__file__).resolve().parents[1]
DOMAIN_DOC = ROOT / "docs" / "domain.md"


def _asasql(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script as a user does."""
    return subprocess.run([ASASQL, *args], capture_output=True, text=True, timeout=120)


def _leftovers(parent: Path) -> list[str]:
    """Staging folders that init left next to its target."""
    return sorted(entry.name for entry in parent.iterdir() if entry.name.endswith(".init"))


def test_init_writes_a_folder_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "my_domain"
    init = _asasql("init", str(target))
    assert init.returncode == 0, init.stderr
    assert sorted(path.name for path in target.iterdir()) == sorted(TEMPLATE_FILES)
    validate = _asasql("validate", str(target))
    assert validate.returncode == 0, validate.stderr
    assert "ok — 2 tables, 2 columns, 2 concepts, 2 samples" in validate.stdout
    assert validate.stderr == ""  # not even a warning
    domain = load_domain(target)
    assert domain.config.name == "my_domain"
    assert domain.samples["label"].to_list() == [True, False]
    assert _leftovers(target.parent) == []


def test_init_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    assert _asasql("init", str(target)).returncode == 0
    assert load_domain(target).catalog.height == 2


@pytest.mark.parametrize("force", [False, True])
def test_init_refuses_what_is_not_a_folder(tmp_path: Path, force: bool) -> None:
    target = tmp_path / "a_file"
    target.write_text("keep me", encoding="utf-8")
    init = _asasql("init", str(target), *(["--force"] if force else []))
    assert init.returncode == 1
    assert f"error: {target} exists and is not a folder" in init.stderr
    assert target.read_text(encoding="utf-8") == "keep me"
    assert _leftovers(tmp_path) == []


def test_init_refuses_a_non_empty_folder_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    init = _asasql("init", str(target))
    assert init.returncode == 1
    assert f"error: {target} is not empty (notes.txt)" in init.stderr
    assert "--force" in init.stderr
    assert init.stdout == ""
    assert [path.name for path in target.iterdir()] == ["notes.txt"]
    assert _leftovers(tmp_path) == []


def test_force_overwrites_the_template_files_and_keeps_the_others(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    (target / "data_sample.json").write_text("not json", encoding="utf-8")
    assert _asasql("validate", str(target)).returncode == 2
    init = _asasql("init", str(target), "--force")
    assert init.returncode == 0, init.stderr
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert _asasql("validate", str(target)).returncode == 0
    assert _leftovers(tmp_path) == []


def test_force_refuses_a_folder_where_a_template_file_goes(tmp_path: Path) -> None:
    (tmp_path / "d" / "domain.yaml").mkdir(parents=True)
    with pytest.raises(TemplateError, match="domain.yaml exists and is not a file"):
        write_template(tmp_path / "d", force=True)
    assert [path.name for path in (tmp_path / "d").iterdir()] == ["domain.yaml"]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_halfway(path: Path) -> None:
        path.write_bytes(b"PK half a workbook")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("asasql_resources.domain.template.write_workbook", fail_halfway)
    with pytest.raises(TemplateError, match="No space left on device"):
        write_template(tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_the_workbook_has_the_documented_sheets_headers_comments_and_examples(tmp_path: Path) -> None:
    write_template(tmp_path / "d")
    book = openpyxl.load_workbook(tmp_path / "d" / "description_full.xlsx")
    assert book.sheetnames == [*REQUIRED_COLUMNS, README_SHEET]
    for name, required in REQUIRED_COLUMNS.items():
        rows = list(book[name].iter_rows())
        header = [cell.value for cell in rows[0]]
        assert header[: len(required)] == list(required)
        assert header == list(SHEET_COLUMNS[name])
        for cell in rows[0]:
            assert cell.comment is not None and cell.comment.text.startswith(f"{cell.value} (required: ")
        assert len(rows) == 3, f"sheet {name}: a header and two example rows"
        assert all(cell.value for row in rows[1:] for cell in row)
    readme = [row for row in book[README_SHEET].iter_rows(min_row=2, values_only=True)]
    assert {(sheet, column) for sheet, column, *_ in readme} >= {
        (sheet, column) for sheet, columns in SHEET_COLUMNS.items() for column in columns
    }


def test_the_samples_and_domain_yaml_have_the_reader_s_keys(tmp_path: Path) -> None:
    write_template(tmp_path / "shop")
    samples = json.loads((tmp_path / "shop" / "data_sample.json").read_text(encoding="utf-8"))
    assert [list(sample) for sample in samples] == [[*SAMPLE_TEXT_KEYS, "label"]] * 2
    assert [sample["label"] for sample in samples] == [True, False]
    assert all(sample["table"].startswith(f"({sample['table_name']};") for sample in samples)
    text = (tmp_path / "shop" / "domain.yaml").read_text(encoding="utf-8")
    settings = yaml.safe_load(text)
    assert list(settings) == ["name", "description", "sql_dialect", "language"]
    assert (settings["name"], settings["sql_dialect"], settings["language"]) == ("shop", "duckdb", "en")
    lines = text.splitlines()
    for key in settings:
        line = next(number for number, line in enumerate(lines) if line.startswith(f"{key}:"))
        block = list(takewhile(lambda text: text.startswith("#"), reversed(lines[:line])))
        assert any(text.startswith(f"# {key}: ") for text in block), f"domain.yaml: {key} has no comment above it"


def test_the_domain_doc_names_every_field_and_only_real_settings_and_commands() -> None:
    doc = DOMAIN_DOC.read_text(encoding="utf-8")
    for field in FIELDS:
        assert f"`{field.column}`" in doc, f"docs/domain.md does not explain {field.sheet}.{field.column}"
    for name in (*TEMPLATE_FILES, "gold_bank.json", "test_set.json", "database.duckdb"):
        assert f"`{name}`" in doc
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "asasql_resources").rglob("*.py"))
    source += "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "asasql_assets").rglob("*.py"))
    for setting in set(re.findall(r"ASASQL_[A-Z0-9_]+", doc)):
        assert f'"{setting}"' in source, f"docs/domain.md names {setting}, which the code does not read"
    listed = build_parser().format_help()
    for command in set(re.findall(r"(?<![\w.-])asasql ([a-z]+)", doc)):
        assert re.search(rf"^\s+{command}\s", listed, re.M), f"docs/domain.md names `asasql {command}`: no such command"
