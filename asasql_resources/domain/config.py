"""Read the optional domain.yaml: the domain's name, SQL dialect, language and description."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import sqlglot
import yaml
from sqlglot.dialects.dialect import Dialect

from asasql_resources.domain.errors import DomainIssue, error, json_kind
from asasql_resources.domain.jsontext import depth
from asasql_resources.domain.limits import MAX_JSON_DEPTH, MAX_YAML_BYTES, file_problem

CONFIG_FILE = "domain.yaml"
LANGUAGES = ("en", "zh")
_KNOWN_KEYS = ("name", "sql_dialect", "language", "description")
# A dialect must read this back (sqlglot also knows query languages that are not SQL, such as prql and dax).
_PROBE_SQL = "SELECT a, COUNT(*) AS n FROM t WHERE b = 1 GROUP BY a"


@dataclass(frozen=True)
class DomainConfig:
    """Settings of a domain; keys that asasql does not know are kept in `extra`."""

    name: str
    sql_dialect: str = "duckdb"
    language: Literal["en", "zh"] = "en"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def read_config(path: Path, default_name: str) -> tuple[DomainConfig, list[DomainIssue]]:
    """Read domain.yaml if it exists; defaults (name = `default_name`) fill in what it leaves out."""
    default = DomainConfig(name=default_name)
    if not path.exists() and not path.is_symlink():
        return default, []
    problem = file_problem(path, MAX_YAML_BYTES)
    if problem is not None:
        return default, [error(path.name, problem)]
    try:
        text = path.read_bytes().decode("utf-8-sig")
        data = yaml.safe_load(text)
        lines = _key_lines(text) if isinstance(data, dict) else {}
    except UnicodeDecodeError as exc:
        return default, [error(path.name, f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return default, [error(path.name, f"cannot be read: {exc.strerror or exc}")]
    except RecursionError:
        return default, [error(path.name, "not usable YAML: lists and mappings nest too deeply")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return default, [error(path.name, f"not valid YAML: {exc}", row=mark.line + 1 if mark else None)]
    if data is None:
        return default, []
    if not isinstance(data, dict):
        return default, [error(path.name, f"must be a mapping of settings, not a YAML {json_kind(data)}")]
    if depth(data) > MAX_JSON_DEPTH:
        return default, [error(path.name, f"lists and mappings nest deeper than {MAX_JSON_DEPTH} levels")]
    return _config_from_mapping(path.name, data, lines, default)


def _config_from_mapping(
    file: str, data: dict[Any, Any], lines: dict[str, int], default: DomainConfig
) -> tuple[DomainConfig, list[DomainIssue]]:
    """Check each known setting and build the config."""
    issues: list[DomainIssue] = []
    values = {key: _string_setting(file, data, key, getattr(default, key), lines, issues) for key in _KNOWN_KEYS}
    values["sql_dialect"] = values["sql_dialect"].lower()
    values["language"] = values["language"].lower()
    if not is_sql_dialect(values["sql_dialect"]):
        message = f"unknown SQL dialect '{values['sql_dialect']}' (use one of: {', '.join(sql_dialects())})"
        issues.append(error(file, message, row=lines.get("sql_dialect"), column="sql_dialect"))
    if values["language"] not in LANGUAGES:
        message = f"unknown language '{values['language']}' (use one of: {', '.join(LANGUAGES)})"
        issues.append(error(file, message, row=lines.get("language"), column="language"))
    extra = {key: value for key, value in data.items() if key not in _KNOWN_KEYS}
    return DomainConfig(**values, extra=extra), issues


def _string_setting(
    file: str, data: dict[Any, Any], key: str, default: str, lines: dict[str, int], issues: list[DomainIssue]
) -> str:
    """A setting that must be text; the default when it is absent, null or blank."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        issues.append(error(file, f"must be text, not a YAML {json_kind(value)}", row=lines.get(key), column=key))
        return default
    return value.strip() or default


def _key_lines(text: str) -> dict[str, int]:
    """The 1-based line of each top-level key of a YAML mapping."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return {key.value: key.start_mark.line + 1 for key, _ in node.value if isinstance(key.value, str)}


def is_sql_dialect(name: str) -> bool:
    """Whether sqlglot knows `name` as a dialect that reads SQL (not prql, dax or another query language)."""
    return Dialect.get(name) is not None and _reads_sql(name)


@cache
def sql_dialects() -> tuple[str, ...]:
    """The SQL dialects that sqlglot knows: those that read back a plain SELECT."""
    return tuple(name for name in sorted(Dialect.classes) if name and _reads_sql(name))


@cache
def _reads_sql(name: str) -> bool:
    """Whether a dialect parses and writes the probe SELECT."""
    try:
        return bool(sqlglot.transpile(_PROBE_SQL, read=name, write=name))
    except Exception:  # noqa: BLE001 - a dialect that cannot handle plain SQL is not one to use
        return False
