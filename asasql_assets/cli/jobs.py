"""Running the code location's jobs from the CLI: in-process, on a home's persistent instance, with its settings."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from asasql_assets.partitions import ROUNDS, checked_round
from asasql_resources.warehouse import Home

DAGSTER_YAML = """\
# Written by asasql. Runs are queued one at a time: the warehouse has a single writer.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""

STAGES = {
    "asasql_main": "Stage 1, synthesis",
    "reward_model_only": "Stage 2, active learning",
    "active_learning_round": "Stage 2, active learning",
    "finetune_and_evaluate": "Stage 3, training set, fine-tune and evaluation",
}


@dataclass(frozen=True)
class Runner:
    """The jobs of `definitions.py`, with resources built as Definitions builds them, plus the CLI's explicit settings.

    `settings` maps setting names (ASASQL_HOME, ASASQL_DOMAIN, ASASQL_ANNOTATOR, ...) to values that win over the
    environment; the process environment is never written.
    """

    home: Home
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_run(cls, home: Home, domain: Path | None = None, annotator: str | None = None) -> Runner:
        """A runner for this home, domain folder and annotator (None: the environment's or the default)."""
        settings = {"ASASQL_HOME": str(home.root)}
        if domain is not None:
            settings["ASASQL_DOMAIN"] = str(domain)
        if annotator is not None:
            settings["ASASQL_ANNOTATOR"] = annotator
        return cls(home, settings)

    def resources(self) -> dict[str, object]:
        """The resources of a run: build_resources over these settings (a SettingError or DeviceError if invalid)."""
        from asasql_assets.resources import build_resources

        return build_resources(self.settings)

    def definitions(self) -> dg.Definitions:
        """The code location's definitions with this runner's resources."""
        from asasql_assets.definitions import defs

        return dg.Definitions(
            assets=defs.assets,
            asset_checks=defs.asset_checks,
            jobs=defs.jobs,
            sensors=defs.sensors,
            resources=self.resources(),
        )

    def instance(self) -> dg.DagsterInstance:
        """The persistent instance: $DAGSTER_HOME when set, else the home's dagster/ folder, with asasql's dagster.yaml."""
        dagster_home = Path(os.environ.get("DAGSTER_HOME") or self.home.dagster)
        dagster_home.mkdir(parents=True, exist_ok=True)
        config = dagster_home / "dagster.yaml"
        if not config.exists():
            temporary = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
            temporary.write_text(DAGSTER_YAML)
            os.replace(temporary, config)  # two runs started at once must not see a half-written file
        return dg.DagsterInstance.from_config(str(dagster_home))

    def execute(
        self,
        job: str,
        partition: str | None = None,
        assets: Sequence[str] | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> str | None:
        """Run one job (one partition, a subset of its assets, a run config) on the instance; its run id, None on failure.

        A partition is a round key (round_0, round_1, …): anything else is a ValueError before the instance is touched,
        so no other key is ever added to the round partitions.
        """
        if partition is not None:
            checked_round(partition)
        with self.instance() as instance:
            if partition is not None and not instance.has_dynamic_partition(ROUNDS.name, partition):
                instance.add_dynamic_partitions(ROUNDS.name, [partition])
            label = f"{job}[{partition}]" if partition else job
            stage = STAGES.get(job, job) + (f", {partition}" if partition else "")
            subset = f": {', '.join(assets)}" if assets else ""
            print(f"\n== {stage} ({time.strftime('%H:%M:%S')}): {label}{subset}", flush=True)
            result = (
                self.definitions()
                .resolve_job_def(job)
                .execute_in_process(
                    instance=instance,
                    partition_key=partition,
                    asset_selection=[dg.AssetKey(name) for name in assets] if assets else None,
                    run_config=run_config,
                    raise_on_error=False,
                )
            )
        return result.run_id if result.success else None
