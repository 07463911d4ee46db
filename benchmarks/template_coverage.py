"""How many demo test questions share a query template with a seeded sample of N gold-bank questions.

Run: .venv/bin/python benchmarks/template_coverage.py [--sizes 24 48 64 80 96 128]

A template is the SQL with every literal masked (sqlglot). The sample is the one `nl2sql_candidates` draws
(`gold_bank_questions`, seed 0): the questions the reference annotator can correct in the demo.
"""

import argparse
from pathlib import Path

import sqlglot
from sqlglot import exp

from asasql_resources.domain import load_domain

DEMO = Path(__file__).resolve().parents[1] / "project_data"


def template(sql: str, dialect: str) -> str:
    """The SQL with its literals replaced by placeholders."""
    tree = sqlglot.parse_one(sql, read=dialect)
    return tree.transform(lambda node: exp.Placeholder() if isinstance(node, exp.Literal) else node).sql()


def main() -> None:
    """Print, per sample size, the share of test questions whose template the sample holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 48, 64, 80, 96, 128])
    args = parser.parse_args()
    domain = load_domain(DEMO)
    dialect = domain.config.sql_dialect
    tests = [template(sql, dialect) for sql in domain.test_set["sql"]]
    print(f"{len(tests)} test questions, {len(set(tests))} templates")
    for size in args.sizes:
        sample = domain.gold_bank.sample(n=min(size, domain.gold_bank.height), seed=0, shuffle=True)
        held = {template(sql, dialect) for sql in sample["sql"]}
        covered = sum(t in held for t in tests) / len(tests)
        print(f"{size:>4} gold-bank questions: {len(held):>3} templates, {covered:.1%} of the test questions covered")


if __name__ == "__main__":
    main()
