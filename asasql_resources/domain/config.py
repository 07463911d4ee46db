"""Read the optional domain.yaml: the domain's name, SQL dialect, language and description."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlglot.dialects.dialect import Dialect

from asasql_resources.domain.errors import DomainIssue, error, json_kind

CONFIG_FILE = "domain.yaml"
LANGUAGES = ("en", "zh")
_KNOWN_KEYS = ("name", "sql_dialect", "language", "description")


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
    if not path.exists():
        return default, []
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        return default, [error(path.name, f"not valid YAML: {exc}", row=mark.line + 1 if mark else None)]
    if data is None:
        return default, []
    if not isinstance(data, dict):
        return default, [error(path.name, f"must be a mapping of settings, not a YAML {json_kind(data)}")]
    return _config_from_mapping(path.name, data, _key_lines(text), default)


def _config_from_mapping(
    file: str, data: dict[Any, Any], lines: dict[str, int], default: DomainConfig
) -> tuple[DomainConfig, list[DomainIssue]]:
    """Check each known setting and build the config."""
    issues: list[DomainIssue] = []
    values = {key: _string_setting(file, data, key, getattr(default, key), lines, issues) for key in _KNOWN_KEYS}
    values["sql_dialect"] = values["sql_dialect"].lower()
    values["language"] = values["language"].lower()
    if Dialect.get(values["sql_dialect"]) is None:
        message = f"unknown SQL dialect '{values['sql_dialect']}' (sqlglot knows: {', '.join(_dialect_names())})"
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


def _dialect_names() -> list[str]:
    """The dialect names that sqlglot knows."""
    return sorted(name for name in Dialect.classes if name)
