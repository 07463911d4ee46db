"""Load a whole domain folder into checked, normalised tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

from asasql_resources.domain.config import CONFIG_FILE, DomainConfig, read_config
from asasql_resources.domain.database import DATABASE_FILE, database_issues
from asasql_resources.domain.errors import DomainIssue, DomainValidationError, error
from asasql_resources.domain.samples import (
    GOLD_BANK_FILE,
    SAMPLES_FILE,
    SAMPLES_SCHEMA,
    TEST_SET_FILE,
    read_pairs,
    read_samples,
)
from asasql_resources.domain.workbook import CATALOG_SCHEMA, CONCEPTS_SCHEMA, WORKBOOK_FILE, read_workbook


@dataclass(frozen=True, eq=False)
class Domain:
    """A checked domain folder: its settings, catalog, concepts, samples and optional files."""

    path: Path
    config: DomainConfig
    catalog: pl.DataFrame
    concepts: pl.DataFrame
    samples: pl.DataFrame
    gold_bank: pl.DataFrame | None
    test_set: pl.DataFrame | None
    database_path: Path | None
    warnings: list[DomainIssue]


def load_domain(path: Path) -> Domain:
    """Read and check a domain folder; raise DomainValidationError listing every issue if any is an error."""
    path = Path(path)
    try:
        is_folder = path.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise DomainValidationError([error(str(path)[:200], f"cannot be read: {exc.strerror or exc}")]) from None
    if not is_folder:
        raise DomainValidationError([error(str(path), "the domain folder does not exist or is not a folder")])
    issues: list[DomainIssue] = []
    config, config_issues = read_config(path / CONFIG_FILE, path.resolve().name)
    fold = folds_identifiers(config.sql_dialect)
    catalog, concepts = _read_workbook(path / WORKBOOK_FILE, issues, fold)
    samples = _read_samples(path / SAMPLES_FILE, catalog, issues, fold)
    gold_bank = _read_optional_pairs(path / GOLD_BANK_FILE, issues)
    test_set = _read_optional_pairs(path / TEST_SET_FILE, issues)
    issues.extend(config_issues)
    database = path / DATABASE_FILE
    if _present(database) and catalog.height:
        issues.extend(database_issues(database, catalog.select("table_name", "column_name").iter_rows()))
    if any(issue.severity == "error" for issue in issues):
        raise DomainValidationError(issues)
    return Domain(
        path=path,
        config=config,
        catalog=catalog,
        concepts=concepts,
        samples=samples,
        gold_bank=gold_bank,
        test_set=test_set,
        database_path=database if database.is_file() else None,
        warnings=issues,
    )


def validate_domain(path: Path) -> list[DomainIssue]:
    """Check a domain folder: return its warnings, or raise DomainValidationError on any error."""
    return load_domain(path).warnings


def folds_identifiers(dialect: str) -> bool:
    """Whether the dialect folds unquoted identifiers (DuckDB, Postgres, Snowflake, ...), per sqlglot."""
    try:
        strategy = Dialect.get_or_raise(dialect).NORMALIZATION_STRATEGY
    except ValueError:
        return True  # an unknown dialect is reported by the config check
    return strategy != NormalizationStrategy.CASE_SENSITIVE


def _read_workbook(path: Path, issues: list[DomainIssue], fold: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The catalog and concepts of the required workbook (empty when it is missing)."""
    if not _present(path):
        issues.append(error(path.name, "the required file is missing"))
        return pl.DataFrame(schema=CATALOG_SCHEMA), pl.DataFrame(schema=CONCEPTS_SCHEMA)
    contents = read_workbook(path, fold)
    issues.extend(contents.issues)
    return contents.catalog, contents.concepts


def _read_samples(path: Path, catalog: pl.DataFrame, issues: list[DomainIssue], fold: bool) -> pl.DataFrame:
    """The required labeled samples; table names are checked only against a catalog that could be read."""
    if not _present(path):
        issues.append(error(path.name, "the required file is missing"))
        return pl.DataFrame(schema=SAMPLES_SCHEMA)
    tables = set(catalog["table_name"]) if catalog.height else None
    samples, found = read_samples(path, tables, fold_case=fold)
    issues.extend(found)
    return samples


def _read_optional_pairs(path: Path, issues: list[DomainIssue]) -> pl.DataFrame | None:
    """Question/sql pairs from an optional file, or None when it is absent."""
    if not _present(path):
        return None
    pairs, found = read_pairs(path)
    issues.extend(found)
    return pairs


def _present(path: Path) -> bool:
    """Whether something is at the path (a file, a folder, or a link, even a broken one)."""
    return path.exists() or path.is_symlink()
