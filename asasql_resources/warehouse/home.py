"""The layout of one ASASQL_HOME folder."""

import os
from dataclasses import dataclass
from pathlib import Path

UNPARTITIONED = "_"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home folder: the argument, else $ASASQL_HOME, else .asasql in the working directory."""
    chosen = home or os.environ.get("ASASQL_HOME") or ".asasql"
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class Home:
    """Paths inside one ASASQL_HOME."""

    root: Path

    @property
    def parquet(self) -> Path:
        """Folder of asset Parquet files, one subfolder per asset."""
        return self.root / "parquet"

    @property
    def ledger(self) -> Path:
        """Folder of materialization records, one small Parquet file each."""
        return self.root / "ledger" / "materializations"

    @property
    def llm_cache(self) -> Path:
        """Folder of LLM call-cache segments."""
        return self.root / "cache" / "llm"

    @property
    def evaluations(self) -> Path:
        """Folder of nl2sql_evaluation's figures, one segment per run."""
        return self.root / "ledger" / "evaluations"

    @property
    def evaluation_items(self) -> Path:
        """Folder of nl2sql_evaluation's per-question judgements, one segment per run."""
        return self.root / "ledger" / "evaluation_items"

    @property
    def warehouse(self) -> Path:
        """The DuckDB file that holds only views."""
        return self.root / "warehouse.duckdb"

    @property
    def models(self) -> Path:
        """Folder of trained adapters."""
        return self.root / "models"

    @property
    def annotations(self) -> Path:
        """Folder of annotation workbooks."""
        return self.root / "annotations"

    @property
    def dagster(self) -> Path:
        """The default DAGSTER_HOME."""
        return self.root / "dagster"

    def asset_file(self, asset: str, partition: str | None) -> Path:
        """Where one asset (partition) is stored."""
        return self.parquet / asset / f"{partition or UNPARTITIONED}.parquet"
