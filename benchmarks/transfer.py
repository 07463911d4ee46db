"""Transfer: does the pipeline help on questions it never saw? EX of base, fine-tuned and ablation per split.

Run: .venv/bin/python benchmarks/transfer.py [--runs demo,demo-nogold,chinook] [--rounds 2] [--out DIR]

Each run is `asasql run` in its own process on a fresh home under --out, so that the figures are what a user
gets:
- demo: project_data with its gold bank and the reference annotator (--rounds rounds);
- demo-nogold: project_data without gold_bank.json (its questions then never join the pool) and `--annotator none`;
- chinook: the third domain (domains/chinook, built when its database is missing), `--annotator none`.
It prints one line per run and model with EX on each split (all, seen, unseen), the run's wall time and the peak
RSS of its process, then the gains over the base. The splits come from the domain's test_set.json (`split`);
the unseen split and the third domain are the development sets, the seen split only shows template learning.

The sweep that chooses nl2sql_model's defaults: `--sweep-home HOME [--sweep-domain DIR] --points
"learning_rate=1e-4;learning_rate=3e-4,epochs=3"` fine-tunes again on a finished run's filtered_dataset with each
point's config (the same held-out validation pairs) and prints EX per split and the gate's validation EX.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
ASASQL = str(Path(sys.executable).with_name("asasql"))
RUNS = {
    "demo": (ROOT / "project_data", "reference", True),
    "demo-nogold": (ROOT / "project_data", "none", False),
    "chinook": (ROOT / "domains" / "chinook", "none", True),
}
SPLITS = ("all", "seen", "unseen")


def domain_folder(name: str, out: Path) -> Path:
    """The domain folder of a run: the demo as it is, the demo without its gold bank, or the built third domain."""
    source, _, keep_gold = RUNS[name]
    if name == "chinook" and not (source / "database.duckdb").exists():
        subprocess.run([sys.executable, "-m", "domains.chinook.build"], cwd=ROOT, check=True)
    if keep_gold:
        return source
    copy = out / f"{name}-domain"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("gold_bank.json"))
    return copy


def run(name: str, rounds: int, out: Path) -> tuple[Path, float, float, int]:
    """`asasql run` of one run in its own process: (home, wall seconds, peak RSS in GB, exit code)."""
    home = out / f"{name}-home"
    shutil.rmtree(home, ignore_errors=True)
    _, annotator, _ = RUNS[name]
    domain = domain_folder(name, out)
    args = [ASASQL, "run", "--domain", str(domain), "--home", str(home), "--annotator", annotator]
    args += ["--rounds", str(rounds if annotator == "reference" else 0)]
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    started = time.perf_counter()
    with open(out / f"{name}.log", "w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    return home, seconds, usage.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status)


def figures(home: Path) -> dict[str, dict[str, tuple[float | None, int]]]:
    """EX and n per model and split (category all) of the home's latest nl2sql_evaluation run."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT model, split, ex, n FROM _evaluations WHERE category = 'all' "
            "AND run_id = (SELECT run_id FROM _evaluations ORDER BY created_at DESC LIMIT 1)"
        ).fetchall()
    finally:
        con.close()
    table: dict[str, dict[str, tuple[float | None, int]]] = {}
    for model, split, ex, n in rows:
        table.setdefault(model, {})[split] = (ex, n)
    return table


def cell(value: tuple[float | None, int] | None) -> str:
    """One EX cell: the EX with its n, or a dash."""
    if value is None or value[0] is None:
        return f"{'-':>12}"
    return f"{value[0]:6.3f} n={value[1]:<3}"


def sweep_point(text: str) -> dict[str, object]:
    """One sweep point, `name=value,name=value` of nl2sql_model's config, as typed config values."""
    point: dict[str, object] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        point[name.strip()] = json.loads(value) if value.strip()[:1].isdigit() or value in ("true", "false") else value
    return point


def sweep(home: Path, domain: Path, points: list[str]) -> None:
    """Fine-tune again on a finished run's filtered_dataset with each point's settings; EX per split, gate EX."""
    from asasql_assets.cli.jobs import Runner
    from asasql_resources.warehouse import Home

    runner = Runner.for_run(Home(home), domain)
    print(f"sweep on {home} (domain {domain}): nl2sql_model's config per point, the ablation left out")
    for text in points:
        config = {"ops": {"nl2sql_model": {"config": sweep_point(text)}}}
        config["ops"]["nl2sql_evaluation"] = {"config": {"labeled_only": False}}
        started = time.perf_counter()
        if runner.execute("finetune_and_evaluate", assets=["nl2sql_model", "nl2sql_evaluation"], run_config=config):
            table = figures(home)
            con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
            try:
                gate = con.execute(
                    "SELECT val_ex_base, val_ex_fine_tuned, n_val_ex, adopted FROM nl2sql_model"
                ).fetchone()
            finally:
                con.close()
            for model, by_split in table.items():
                cells = " ".join(cell(by_split.get(split)) for split in SPLITS)
                print(f"{text or 'defaults':<28} {model:<11} {cells}   {(time.perf_counter() - started) / 60:5.1f} min")
            print(f"{text or 'defaults':<28} gate: base {gate[0]} fine-tuned {gate[1]} on {gate[2]}, adopted {gate[3]}")
        else:
            print(f"{text or 'defaults':<28} failed")


def main() -> None:
    """Run each configuration, then print EX per model and split, wall time and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="demo,demo-nogold,chinook", help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the reference-annotator run")
    parser.add_argument("--out", type=Path, default=Path(".asasql-transfer"), help="homes and logs go here")
    parser.add_argument("--sweep-home", type=Path, default=None, help="a finished run's home: sweep on it instead")
    parser.add_argument("--sweep-domain", type=Path, default=ROOT / "project_data", help="that run's domain folder")
    parser.add_argument(
        "--points", default="learning_rate=1e-4;learning_rate=3e-4", help="';'-separated nl2sql_model configs"
    )
    args = parser.parse_args()
    if args.sweep_home is not None:
        sweep(args.sweep_home.resolve(), args.sweep_domain.resolve(), args.points.split(";"))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    preset = os.environ.get("ASASQL_PRESET", "default")
    print(f"transfer benchmark: preset {preset}, runs {args.runs}, homes and logs in {args.out}")
    print(f"{'run':<12} {'model':<13} " + " ".join(f"{split:>12}" for split in SPLITS) + "   wall      peak RSS")
    gains = []
    for name in args.runs.split(","):
        home, seconds, peak, code = run(name, args.rounds, args.out.resolve())
        if code != 0:
            print(f"{name:<12} failed (exit {code}): see {args.out / (name + '.log')}")
            continue
        table = figures(home)
        for model, by_split in table.items():
            cells = " ".join(cell(by_split.get(split)) for split in SPLITS)
            print(f"{name:<12} {model:<13} {cells}   {seconds / 60:5.1f} min  {peak:5.2f} GB")
        for model in ("fine_tuned", "adopted"):
            for split in SPLITS:
                tuned, base = table.get(model, {}).get(split), table.get("base", {}).get(split)
                if tuned and base and tuned[0] is not None and base[0] is not None:
                    gains.append((name, model, split, tuned[0] - base[0]))
    if gains:
        print("\ngain over the base (EX points):")
        for name, model, split, gain in gains:
            print(f"  {name:<12} {model:<11} {split:<7} {100 * gain:+6.1f}")


if __name__ == "__main__":
    main()
