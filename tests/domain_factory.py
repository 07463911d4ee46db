"""Build small domain folders (workbook, sample files, domain.yaml) in temporary directories for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import polars as pl

# The columns of a loaded catalog, for tests that build one in memory.
CATALOG_SCHEMA = {
    "table_name": pl.String(),
    "column_name": pl.String(),
    "column_name_zh": pl.String(),
    "description": pl.String(),
    "possible_values": pl.List(pl.String()),
    "data_type": pl.String(),
    "table_description": pl.String(),
}
SCHEMA_HEADER = ["table_name", "column_name", "column_name_zh", "description", "reason", "possible_value", "data_type"]


def _schema_rows() -> list[list[object]]:
    """Header plus eight columns over three tables; list index i is Excel row i + 1."""
    return [
        list(SCHEMA_HEADER),
        ["orders", "order_id", "订单编号", "Order identifier", "Primary key", None, "INTEGER"],
        ["orders", "customer_id", "客户编号", "Customer who placed the order", "Joins customers", None, "INTEGER"],
        [
            "orders",
            "status",
            "订单状态",
            "Order status",
            "Filters by state",
            '["paid", "shipped", "cancelled"]',
            "VARCHAR",
        ],
        ["orders", "amount", "金额", "Order amount in CNY", "Summed for revenue", None, "DOUBLE"],
        ["customers", "customer_id", "客户编号", "Customer identifier", "Primary key", None, "INTEGER"],
        ["customers", "city", "城市", "City of the customer", "Grouped by city", '["北京", "上海"]', "VARCHAR"],
        ["products", "product_id", "产品编号", "Product identifier", "Primary key", None, "INTEGER"],
        ["products", "category", "类别", "Product category", "Filters by category", '["book", "toy"]', None],
    ]


def _sample(query: str, sql: str, table: str, label: object) -> dict[str, object]:
    """One labeled sample in the data_sample.json format."""
    return {
        "origin_query": query,
        "sql": sql,
        "table_name": table,
        "table": f"({table};a table)",
        "column": "(status;订单状态;Order status;['paid', 'shipped'])",
        "label": label,
    }


@dataclass
class DomainSpec:
    """The contents of a domain folder; a str for a JSON file is written verbatim, None leaves a file out."""

    sheets: dict[str, list[list[object]]] = field(
        default_factory=lambda: {
            "schema": _schema_rows(),
            "meta": [
                ["table", "description"],
                ["orders", "One row per order"],
                ["customers", "One row per customer"],
                ["products", "One row per product"],
            ],
            "concept": [
                ["entity", "description"],
                ["revenue", "Sum of order amounts"],
                ["GMV", "Gross merchandise value"],
            ],
        }
    )
    samples: object = field(
        default_factory=lambda: [
            _sample("How many orders were paid?", "SELECT count(*) FROM orders WHERE status = 'paid'", "orders", True),
            _sample("Customers in Beijing", "SELECT * FROM customers WHERE city = '上海'", "customers", "incorrect"),
            _sample("List the toy products", "SELECT * FROM products WHERE category = 'toy'", "products", 1),
        ]
    )
    gold_bank: object = field(
        default_factory=lambda: [
            {"question": "How many orders are there?", "sql": "SELECT count(*) FROM orders"},
            {"question": "Which cities have customers?", "sql": "SELECT DISTINCT city FROM customers"},
        ]
    )
    test_set: object = field(
        default_factory=lambda: [
            {
                "question": "Total paid amount",
                "sql": "SELECT sum(amount) FROM orders WHERE status = 'paid'",
                "category": "aggregate",
            },
            {"question": "All books", "sql": "SELECT * FROM products WHERE category = 'book'"},
        ]
    )
    config: str | None = "name: shop\nsql_dialect: duckdb\nlanguage: zh\ndescription: A small shop\nowner: data-team\n"


def write_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """Write the sheets (name -> rows, first row the header) to an xlsx file."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def write_domain(root: Path, spec: DomainSpec | None = None) -> Path:
    """Write a domain folder from `spec` (a valid domain by default) and return its path."""
    spec = spec or DomainSpec()
    root.mkdir(parents=True, exist_ok=True)
    write_workbook(root / "description_full.xlsx", spec.sheets)
    for name, content in (
        ("data_sample.json", spec.samples),
        ("gold_bank.json", spec.gold_bank),
        ("test_set.json", spec.test_set),
    ):
        if content is not None:
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=1)
            (root / name).write_text(text, encoding="utf-8")
    if spec.config is not None:
        (root / "domain.yaml").write_text(spec.config, encoding="utf-8")
    return root
