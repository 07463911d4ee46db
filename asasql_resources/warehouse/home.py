"""The layout of one ASASQL_HOME folder."""

import os
import re
from dataclasses import dataclass
from pathlib import Path

UNPARTITIONED = "_"
SECRET_FILE = ".secret"
# Folders of a home that hold Parquet files written by the pipeline (and signed with the home's secret).
DATA_FOLDERS = ("parquet", "ledger", "cache", "models")
# An asset or partition name becomes one path component: no separator, no dot-only name, bounded length.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}$")


class UnsafeName(ValueError):
    """An asset, partition or round name that cannot be one file name inside the home."""


def shown(value: str, limit: int = 60) -> str:
    """A name for an error message: its repr, cut to `limit` characters with its full length noted."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(value)} characters)"


def check_name(kind: str, name: str) -> str:
    """The name when it is one safe path component (letters, digits, _ . = -; at most 128), else UnsafeName."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise UnsafeName(
            f"{kind} {shown(str(name))} cannot name a file in the home: use at most 128 letters, digits, "
            "'_', '.', '=' or '-', not starting with '.' or '-'"
        )
    return name


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
    def secret(self) -> Path:
        """The per-home key that signs the pipeline's Parquet files (mode 0600, outside every data folder)."""
        return self.root / SECRET_FILE

    @property
    def dagster(self) -> Path:
        """The default DAGSTER_HOME."""
        return self.root / "dagster"

    def asset_file(self, asset: str, partition: str | None) -> Path:
        """Where one asset (partition) is stored; UnsafeName when a name would leave its folder."""
        check_name("asset", asset)
        if partition is not None:
            check_name("partition key", partition)
            if partition == UNPARTITIONED:
                raise UnsafeName(f"partition key {partition!r} is reserved for unpartitioned assets")
        return self.parquet / asset / f"{partition or UNPARTITIONED}.parquet"

    def annotation_file(self, round_key: str) -> Path:
        """The workbook of one round in the annotations folder; UnsafeName when the key would leave it."""
        return self.annotations / f"{check_name('round', round_key)}.xlsx"

    def inside(self, path: Path) -> Path:
        """The path resolved (links followed); UnsafeName unless it lies inside the home."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise UnsafeName(f"{path} resolves to {resolved}, outside the home {self.root}")
        return resolved
