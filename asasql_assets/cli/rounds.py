"""`asasql round new` and `asasql annotate export|import ROUND`: the active-learning rounds from the terminal."""

import sys
from pathlib import Path

from asasql_assets.cli.inspect import EXIT_INVALID
from asasql_resources.warehouse import Home, read_frame, resolve_home


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


def export(round_arg: str, home_arg: Path | None, overwrite: bool) -> int:
    """Write annotations/<round>.xlsx from the round's selected pairs."""
    from asasql_assets.active.labeling import selected_items
    from asasql_assets.partitions import round_number
    from asasql_resources.annotation import export_workbook

    home = Home(resolve_home(home_arg))
    try:
        round_number(round_arg)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    selection = home.asset_file("clusters", round_arg)
    pool = home.asset_file("extracted_columns", None)
    if not selection.exists() or not pool.exists():
        print(f"error: clusters[{round_arg}] is not materialized in {home.root}; run the round first", file=sys.stderr)
        return EXIT_INVALID
    items = selected_items(read_frame(selection)[0], read_frame(pool)[0])
    path = home.annotations / f"{round_arg}.xlsx"
    try:
        export_workbook(items, path, round_arg, overwrite=overwrite)
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{path}: {items.height} pairs to label (column 'label': correct or incorrect)")
    print(f"then: asasql annotate import {round_arg}")
    return 0


def import_labels(round_arg: str, home_arg: Path | None, domain: Path | None) -> int:
    """Validate annotations/<round>.xlsx, then materialize labeled_rounds[round] from it through Dagster."""
    from asasql_assets.active.labeling import selected_items
    from asasql_resources.annotation import AnnotationError, read_workbook

    home = Home(resolve_home(home_arg))
    path = home.annotations / f"{round_arg}.xlsx"
    selection = home.asset_file("clusters", round_arg)
    if not selection.exists():
        print(f"error: clusters[{round_arg}] is not materialized in {home.root}", file=sys.stderr)
        return EXIT_INVALID
    expected = selected_items(read_frame(selection)[0], read_frame(home.asset_file("extracted_columns", None))[0])
    try:
        read_workbook(path, round_arg, expected["candidate_id"].to_list(), require_complete=True)
    except (AnnotationError, FileNotFoundError, ValueError) as error:
        print(f"error: nothing imported.\n{error}", file=sys.stderr)
        return EXIT_INVALID
    from asasql_assets.cli.jobs import Runner

    runner = Runner.for_run(home, domain, annotator="workbook")
    ok = runner.execute("active_learning_round", round_arg, ["labeled_rounds"]) is not None
    return 0 if ok else 1
