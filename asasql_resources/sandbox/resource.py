"""The SqlSandbox Dagster resource: checks untrusted SQL and opens locked sessions to run it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from asasql_resources.sandbox.instance import build_instance
from asasql_resources.sandbox.policy import SqlCheck, check_sql
from asasql_resources.sandbox.runner import DEFAULT_MAX_BYTES, SandboxSession


class SqlSandbox(dg.ConfigurableResource):
    """Executes untrusted, LLM-generated SQL: one read-only SELECT, in a locked DuckDB in a bounded worker process."""

    timeout_s: float = Field(default=2.0, gt=0, description="Wall-clock limit per statement, in seconds.")
    memory_limit: str = Field(
        default="512MB", description="How much the sandbox's worker process may grow while running a statement."
    )
    max_rows: int = Field(default=1000, ge=0, description="Rows fetched per statement; more are cut off.")
    max_result_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1, description="Bytes (pickled) of rows fetched per statement; more are cut off."
    )
    synthetic_rows: int = Field(
        default=24, ge=1, description="Rows per table when the instance is synthesized from the catalog."
    )
    seed: int = Field(default=0, description="Seed of the synthesized rows.")

    def check(self, sql: str, dialect: str = "duckdb") -> SqlCheck:
        """Check `sql` against the policy without running it."""
        return check_sql(sql, dialect)

    def session(self, database_path: Path | None, catalog: pl.DataFrame) -> SandboxSession:
        """Open a session on the domain's database file (read in place), or on tables synthesized from `catalog`."""
        source = database_path
        if source is None:
            source = build_instance(None, catalog, rows_per_table=self.synthetic_rows, seed=self.seed)
        return SandboxSession(
            source,
            timeout_s=self.timeout_s,
            max_rows=self.max_rows,
            max_bytes=self.max_result_bytes,
            memory_limit=self.memory_limit,
        )
