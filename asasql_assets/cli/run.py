"""`asasql run`: the main job through a persistent Dagster instance under ASASQL_HOME."""

import fcntl
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from asasql_assets.active.rounds import StopRule
from asasql_assets.cli.inspect import EXIT_INVALID, validate
from asasql_assets.cli.jobs import Runner
from asasql_assets.cli.rounds import export
from asasql_assets.partitions import MAX_ROUND_DIGITS, round_key
from asasql_resources.warehouse import Home, connect_readonly, read_frame, resolve_home


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


def _round_value(home: Home, asset: str, partition: str, column: str) -> object:
    """One value of a round's one-row (or aggregated) asset, read from its Parquet file."""
    frame = read_frame(home.asset_file(asset, partition))[0]
    return frame[column].sum() if frame.height != 1 else frame[column][0]


def active_learning(runner: Runner, rule: StopRule, annotator: str) -> tuple[list[str], str, bool]:
    """Rounds 0 … N-1, then reward_model[round_N], under the stopping rule.

    Returns the run ids, why the rounds stopped, and whether they are complete (Stage 3 may follow).
    """
    home, execute = runner.home, runner.execute
    runs = []
    number = 0
    while True:
        key = round_key(number)
        run_id = execute("reward_model_only", key)
        if run_id is None:
            return runs, f"{key}: reward_model failed", False
        runs.append(run_id)
        reason = rule.after_model(number, _round_value(home, "reward_model", key, "val_accuracy"))
        if reason:
            return runs, reason, True
        run_id = execute("active_learning_round", key, ["reward_scores", "clusters"])
        if run_id is None:
            return runs, f"{key}: scoring or selection failed", False
        runs.append(run_id)
        reason = rule.after_selection(number, int(_round_value(home, "clusters", key, "selected")))
        if reason:
            return runs, reason, True
        if annotator == "none":
            return (
                runs,
                f"{key}: scored and selected for inspection; the annotator is none, so no round is labeled",
                True,
            )
        workbook = home.annotation_file(key)
        if annotator == "workbook" and not workbook.exists():
            export(key, home.root, overwrite=False)
            return runs, f"{key}: waiting for labels in {workbook}", False
        run_id = execute("active_learning_round", key, ["labeled_rounds"])
        if run_id is None:
            return runs, f"{key}: labeling failed", False
        runs.append(run_id)
        number += 1


def stage3_assets(domain: Path) -> list[str]:
    """Stage 3's assets: nl2sql_evaluation only when the domain has a test set to evaluate on."""
    if (domain / "test_set.json").exists():
        return ["filtered_dataset", "nl2sql_model", "nl2sql_model_labeled_only", "nl2sql_evaluation"]
    print(f"note: {domain} has no test_set.json, so nl2sql_evaluation is skipped", flush=True)
    return ["filtered_dataset", "nl2sql_model"]


def print_summary(home: Home, run_ids: Sequence[str]) -> None:
    """Rows per asset written by these runs, reward accuracy per round, and where to look next."""
    con = connect_readonly(home)
    try:
        placeholders = ", ".join("?" for _ in run_ids) or "NULL"
        rows = con.execute(
            "SELECT asset, coalesce(partition, '') AS partition, rows FROM _materializations "
            f"WHERE run_id IN ({placeholders}) ORDER BY created_at",
            list(run_ids),
        ).fetchall()
        views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        rounds = (
            con.execute("SELECT round, n_train, val_accuracy, val_auc FROM reward_model ORDER BY round").fetchall()
            if "reward_model" in views
            else []
        )
        model = con.sql("SELECT * FROM nl2sql_model LIMIT 1").pl().to_dicts() if "nl2sql_model" in views else []
        example = (
            con.execute(
                "SELECT origin_query FROM schema_catalog__samples WHERE label ORDER BY sample_id LIMIT 1"
            ).fetchone()
            if "schema_catalog__samples" in views
            else None
        )
    finally:
        con.close()
    print(f"\n{len(rows)} materialization(s):")
    for asset, partition, count in rows:
        label = f"{asset}[{partition}]" if partition else asset
        print(f"  {label:<36} {count:>8} rows")
    if rounds:
        print("\nreward model by round:")
        for number, n_train, accuracy, auc in rounds:
            auc_text = f"{auc:.3f}" if auc is not None else "n/a"
            print(f"  round_{number:<4} trained on {n_train:>5}  val accuracy {accuracy:.3f}  val AUC {auc_text}")
    gated = model[0] if model else {}
    if gated.get("adopted"):
        figures = [gated["val_ex_base"], gated["val_ex_fine_tuned"]]
        base_ex, tuned_ex = ("n/a" if ex is None else f"{ex:.3f}" for ex in figures)
        print(
            f"\nnl2sql_model adopted: {gated['adopted']} (validation EX base {base_ex}, fine-tuned {tuned_ex} "
            f"on {gated['n_val_ex']} pairs)"
        )
    if "nl2sql_evaluation" in views:
        print_evaluation(home)
    print(f"\nwarehouse: {home.warehouse}")
    print(f"models:    {home.models}")
    question = (example[0] if example else "YOUR QUESTION").replace('"', "'")
    print(f'next: make ui  |  asasql sql "select * from nl2sql_evaluation"  |  asasql predict "{question}" --execute')


def print_evaluation(home: Home) -> None:
    """Execution accuracy per model and split, overall and per category, from the nl2sql_evaluation view."""
    con = connect_readonly(home)
    try:
        rows = con.execute(
            "SELECT model, split, category, n, ex, parse_rate, exec_rate FROM nl2sql_evaluation "
            "ORDER BY split <> 'all', split, model, category <> 'all', category"
        ).fetchall()
    finally:
        con.close()
    print("\nexecution accuracy on the test set (EX per split; parse and exec rates overall):")
    for model, split, category, n, ex, parse_rate, exec_rate in rows:
        rates = f"  parse {parse_rate:.2f}  exec {exec_rate:.2f}" if category == "all" and split == "all" else ""
        value = ex if ex is not None else float("nan")
        print(f"  {model:<13} {split:<7} {category:<12} n={n:<4} EX {value:.3f}{rates}")


def rounds_ok(rounds: int) -> int:
    """`--rounds N` itself, when round_N (the last reward model the run trains) is a round key; ValueError otherwise."""
    try:
        round_key(rounds)
    except ValueError:
        digits = str(rounds).lstrip("-")
        given = str(rounds) if len(digits) <= 20 else f"a {len(digits)}-digit number"
        raise ValueError(f"--rounds must be from 0 to {10**MAX_ROUND_DIGITS - 1}, got {given}") from None
    return rounds


def settings_ok(runner: Runner) -> bool:
    """Whether the run's resources build from its settings; else say why, on one line per setting."""
    from pydantic import ValidationError

    from asasql_assets.resources import SettingError
    from asasql_resources.models.devices import DeviceError

    try:
        runner.resources()
    except (SettingError, DeviceError, ValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True


def run(
    domain: Path | None, rounds: int, annotator: str, home_arg: Path | None, target_accuracy: float | None = None
) -> int:
    """Validate the domain, then Stage 1, the active-learning rounds and Stage 3, in-process on the persistent instance."""
    home = Home(resolve_home(home_arg))
    domain = (domain or Path(os.environ.get("ASASQL_DOMAIN", "project_data"))).resolve()
    try:
        rounds_ok(rounds)
        rule = StopRule(max_rounds=rounds, target_accuracy=target_accuracy)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    if validate(domain, annotator) != 0:
        return EXIT_INVALID
    runner = Runner.for_run(home, domain, annotator)
    if not settings_ok(runner):
        return EXIT_INVALID
    try:
        with exclusive_run(home):
            run_id = runner.execute("asasql_main")
            runs, reason = ([run_id], "") if run_id else ([], "Stage 1 failed")
            if run_id:
                more, reason, complete = active_learning(runner, rule, annotator)
                runs += more
                if complete:
                    run_id = runner.execute("finetune_and_evaluate", None, stage3_assets(domain))
                    runs += [run_id] if run_id else []
                    reason = f"{reason}; then Stage 3" + (" ran" if run_id else " failed")
    except RunInProgress as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_summary(home, runs)
    print(f"stopped: {reason}")
    failed = reason.endswith("failed")
    if failed:
        print("run failed: see the log above, or the run in `make ui`", file=sys.stderr)
    return 1 if failed else 0
