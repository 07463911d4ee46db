"""`asasql validate` and `asasql sql`: look at a domain folder or the warehouse without running anything."""

import csv
import json
import logging
import shutil
import sys
from pathlib import Path

import duckdb

from asasql_resources.domain import Domain, DomainValidationError, load_domain
from asasql_resources.warehouse import Home, NoWarehouse, open_warehouse, resolve_home

EXIT_INVALID = 2


# What each annotator needs of the domain folder, beyond what every run needs.
NEEDS = {"reference": "gold_bank.json", "workbook": None, "judge": None, "none": None}


def annotator_problem(loaded: Domain, annotator: str) -> str | None:
    """Why the domain cannot run with this annotator, with what to use instead; None when it can."""
    if annotator == "reference" and (loaded.gold_bank is None or loaded.gold_bank.is_empty()):
        return (
            f"{loaded.path}: --annotator reference labels by execution match against gold_bank.json, which this "
            "domain has not; use --annotator none (no labels beyond data_sample.json), workbook (people label) "
            "or judge (an LLM labels)"
        )
    return None


def validate(domain: Path, annotator: str | None = None) -> int:
    """Print every issue of a domain folder (and of the annotator's needs); 0 when it can run, 2 otherwise."""
    try:
        loaded = load_domain(domain)
    except DomainValidationError as error:
        for issue in error.issues:
            print(f"error: {issue}" if issue.severity == "error" else str(issue), file=sys.stderr)
        warnings = len(error.issues) - len(error.errors)
        print(
            f"{domain}: {len(error.errors)} error(s)" + (f", {warnings} warning(s)" if warnings else ""),
            file=sys.stderr,
        )
        return EXIT_INVALID
    except Exception as error:  # noqa: BLE001 - whatever a hostile folder trips, the answer is one line, not a traceback
        print(f"error: {domain}: cannot be checked: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr)
        return EXIT_INVALID
    for issue in loaded.warnings:
        print(issue, file=sys.stderr)
    problem = annotator_problem(loaded, annotator) if annotator is not None else None
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    catalog = loaded.catalog
    optional = {
        "gold_bank": loaded.gold_bank,
        "test_set": loaded.test_set,
    }
    extras = ", ".join(f"{name} {len(frame)}" for name, frame in optional.items() if frame is not None)
    print(
        f"{domain}: ok — {catalog['table_name'].n_unique()} tables, {catalog.height} columns, "
        f"{loaded.concepts.height} concepts, {loaded.samples.height} samples"
        + (f", {extras}" if extras else "")
        + f", database {'yes' if loaded.database_path else 'synthesized'}, dialect {loaded.config.sql_dialect}"
        + (f" ({len(loaded.warnings)} warning(s))" if loaded.warnings else "")
    )
    usable = [kind for kind in NEEDS if annotator_problem(loaded, kind) is None]
    print(
        f"annotators it can run with: {', '.join(usable)}"
        + ("" if "reference" in usable else " (reference needs gold_bank.json)")
    )
    return 0


def sql(query: str, home: Path | None, output: str, max_rows: int) -> int:
    """Run one read-only SELECT on the warehouse's views and print it as a table, CSV or JSON lines."""
    from asasql_resources.sandbox.policy import check_sql  # here, so that `validate` does not load the sandbox

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its warnings would add lines to a refusal
    problem = _arguments_problem(query, max_rows)
    if problem is None:
        check = check_sql(query)
        problem = None if check.ok else f"refused: {check.reason} (asasql sql runs one SELECT or WITH statement)"
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    try:
        con = open_warehouse(Home(resolve_home(home)))
    except NoWarehouse as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except duckdb.Error as error:
        print(f"error: cannot open the warehouse: {_first_line(error)}", file=sys.stderr)
        return 1
    try:
        relation = con.sql(check.sql)
        if relation is None:
            print("ok")
        elif output == "table":
            relation.show(max_rows=max_rows, max_width=shutil.get_terminal_size((160, 40)).columns)
        else:
            _print_rows(relation.columns, relation.fetchall(), output)
    except duckdb.ParserException as error:
        print(f"error: {_first_line(error)}", file=sys.stderr)
        return EXIT_INVALID
    except duckdb.Error as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        con.close()
    return 0


MAX_SHOWN_ROWS = 1_000_000


def _arguments_problem(query: str, max_rows: int) -> str | None:
    """Why `asasql sql` refuses its arguments before the statement policy looks at the query, or None."""
    if not 1 <= max_rows <= MAX_SHOWN_ROWS:
        return f"--max-rows must be a whole number from 1 to {MAX_SHOWN_ROWS}, got {max_rows}"
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"the query is not valid UTF-8 (character {error.start + 1})"
    return None


def _first_line(error: Exception) -> str:
    """The first line of an error's message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _print_rows(columns: list[str], rows: list[tuple], output: str) -> None:
    """Rows as CSV with a header, or as JSON lines."""
    if output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    for row in rows:
        print(json.dumps(dict(zip(columns, row, strict=False)), default=str, ensure_ascii=False))
