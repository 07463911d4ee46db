"""`asasql run`: the main job through a persistent Dagster instance under ASASQL_HOME."""

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asasql_assets.cli.inspect import EXIT_INVALID, validate
from asasql_resources.warehouse import Home, connect_readonly, resolve_home

DAGSTER_YAML = """\
# Written by asasql. Runs are queued one at a time: the warehouse has a single writer.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


class RunInProgress(RuntimeError):
    """Another asasql run holds this home."""


@contextmanager
def exclusive_run(home: Home) -> Iterator[None]:
    """Hold the home's run lock, or refuse at once when another process holds it."""
    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.root / ".run.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise RunInProgress(
                f"another asasql run (pid {handle.read().strip() or '?'}) is using {home.root}; "
                "wait for it to finish, or pass another --home"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_environment(home: Home, domain: Path) -> None:
    """Point ASASQL_HOME, ASASQL_DOMAIN and (unless set) DAGSTER_HOME at this run's folders."""
    os.environ["ASASQL_HOME"] = str(home.root)
    os.environ["ASASQL_DOMAIN"] = str(domain)
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(home.dagster)))
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)


def print_summary(home: Home, run_id: str) -> None:
    """Rows per asset written by this run, and where to look next."""
    con = connect_readonly(home)
    try:
        rows = con.execute(
            "SELECT asset, coalesce(partition, '') AS partition, rows FROM _materializations "
            "WHERE run_id = ? ORDER BY created_at",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    print(f"\nrun {run_id} materialized {len(rows)} asset(s):")
    for asset, partition, count in rows:
        label = f"{asset}[{partition}]" if partition else asset
        print(f"  {label:<36} {count:>8} rows")
    print(f"\nwarehouse: {home.warehouse}")
    print('next: make ui  |  asasql sql "select * from _materializations"')


def run(domain: Path | None, rounds: int, annotator: str, home_arg: Path | None) -> int:
    """Validate the domain, then execute the asasql_main job in-process on the persistent instance."""
    home = Home(resolve_home(home_arg))
    domain = (domain or Path(os.environ.get("ASASQL_DOMAIN", "project_data"))).resolve()
    if rounds < 0:
        print("error: --rounds must be 0 or more", file=sys.stderr)
        return EXIT_INVALID
    if validate(domain) != 0:
        return EXIT_INVALID
    prepare_environment(home, domain)
    try:
        with exclusive_run(home):
            import dagster as dg

            from asasql_assets.definitions import defs

            print(f"rounds={rounds} annotator={annotator}: the active-learning stage is not in this build yet")
            with dg.DagsterInstance.get() as instance:
                result = defs.resolve_job_def("asasql_main").execute_in_process(
                    instance=instance, raise_on_error=False
                )
    except RunInProgress as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_summary(home, result.run_id)
    if not result.success:
        print("run failed: see the log above, or the run in `make ui`", file=sys.stderr)
        return 1
    return 0
