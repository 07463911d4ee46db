"""`asasql round new` and `asasql annotate export|import ROUND`: the active-learning rounds from the terminal."""

import sys
from pathlib import Path

import polars as pl

from asasql_assets.cli.inspect import EXIT_INVALID
from asasql_resources.warehouse import DamagedFile, Home, UnsafeName, read_frame, resolve_home


def _known_rounds(instance: object) -> list[str]:
    """The round partitions the instance knows, in round order."""
    from asasql_assets.partitions import ROUNDS, round_number

    return sorted(instance.get_dynamic_partitions(ROUNDS.name), key=round_number)


def new_round(home_arg: Path | None, domain: Path | None) -> int:
    """Add the next round partition (round_0 first) and print its key."""
    from asasql_assets.cli.jobs import Runner
    from asasql_assets.partitions import ROUNDS, round_key

    home = Home(resolve_home(home_arg))
    with Runner.for_run(home, domain).instance() as instance:
        key = round_key(len(_known_rounds(instance)))
        instance.add_dynamic_partitions(ROUNDS.name, [key])
    print(key)
    return 0


class RoundProblem(Exception):
    """Why a command cannot use a round; printed as one line, exit 2."""


def _round_files(command: str, round_arg: str, home: Home) -> tuple[Path, pl.DataFrame]:
    """The round's workbook path inside the annotations folder, and its selected pairs; RoundProblem otherwise."""
    from asasql_assets.active.labeling import selected_items
    from asasql_assets.partitions import checked_round

    try:
        key = checked_round(round_arg)
        workbook = home.annotation_file(key)
        selection, pool = home.asset_file("clusters", key), home.asset_file("extracted_columns", None)
        home.inside(selection)
        home.inside(pool)
    except (ValueError, UnsafeName) as error:
        raise RoundProblem(f"{command} ROUND: {error}") from None
    if not selection.exists() or not pool.exists():
        missing = f"clusters[{key}]" if not selection.exists() else "extracted_columns"
        raise RoundProblem(f"{missing} is not materialized in {home.root}; run the round first")
    try:
        return workbook, selected_items(read_frame(selection)[0], read_frame(pool)[0])
    except DamagedFile as error:
        raise RoundProblem(f"{error} (re-run the round to rebuild it)") from None


def export(round_arg: str, home_arg: Path | None, overwrite: bool) -> int:
    """Write annotations/<round>.xlsx from the round's selected pairs."""
    from asasql_resources.annotation import export_workbook

    home = Home(resolve_home(home_arg))
    try:
        path, items = _round_files("annotate export", round_arg, home)
        export_workbook(items, path, round_arg, overwrite=overwrite)
    except RoundProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{path}: {items.height} pairs to label (column 'label': correct or incorrect)")
    print(f"then: asasql annotate import {round_arg}")
    return 0


def import_labels(round_arg: str, home_arg: Path | None, domain: Path | None) -> int:
    """Validate annotations/<round>.xlsx, then materialize labeled_rounds[round] from it through Dagster."""
    from asasql_resources.annotation import AnnotationError, read_workbook

    home = Home(resolve_home(home_arg))
    try:
        path, expected = _round_files("annotate import", round_arg, home)
    except RoundProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    try:
        read_workbook(path, round_arg, expected["candidate_id"].to_list(), require_complete=True)
    except (AnnotationError, FileNotFoundError, ValueError) as error:
        print(f"error: nothing imported.\n{error}", file=sys.stderr)
        return EXIT_INVALID
    from asasql_assets.cli.jobs import Runner

    runner = Runner.for_run(home, domain, annotator="workbook")
    ok = runner.execute("active_learning_round", round_arg, ["labeled_rounds"]) is not None
    return 0 if ok else 1
