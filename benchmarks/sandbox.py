"""The sandbox's cost per statement and its bounds on the worst hostile statements.

Run: .venv/bin/python benchmarks/sandbox.py [--repeat 3] [--timeout 2] [--memory-limit 512MB]

1. Throughput: every gold SQL of project_data/gold_bank.json on the demo's database.duckdb, one
   statement at a time, three ways: the engine in-process on a locked connection with a timer that
   interrupts it (the sandbox's former design, kept here only as the yardstick), the same with the
   policy check, and SandboxSession (check, then the persistent worker process). Prints statements/s,
   the median and p95 ms per statement, and the worker's start time.
2. Bounds: every runaway_* statement of tests/data/hostile_sql.jsonl in a fresh session on tables
   synthesized from a small orders/customers catalog (the names the corpus uses), with the resource's
   default limits. Prints each statement's
   wall time and the worker's peak resident memory above its idle baseline, then the worst of each.
   On a machine shared with other jobs, wall times overstate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl

from asasql_resources.domain.loader import load_domain
from asasql_resources.sandbox import SandboxSession, SqlSandbox, build_instance, check_sql

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "project_data"
CORPUS = ROOT / "tests" / "data" / "hostile_sql.jsonl"
MIB = 2**20


def in_process(con: duckdb.DuckDBPyConnection, sql: str, timeout_s: float, max_rows: int) -> bool:
    """The former design: run on the caller's connection, interrupted by a timer thread."""
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        con.execute(sql)
        con.fetchmany(max_rows + 1)
        return True
    except duckdb.Error:
        return False
    finally:
        timer.cancel()


def timed(run: Callable[[str], bool], queries: list[str], repeat: int) -> tuple[float, list[float], int]:
    """Statements/s, per-statement ms and ok count of `run` over `queries`, `repeat` times."""
    for sql in queries[:10]:  # warm caches, as a long run would be
        run(sql)
    per_ms: list[float] = []
    ok = 0
    started = time.perf_counter()
    for _ in range(repeat):
        for sql in queries:
            one = time.perf_counter()
            ok += run(sql)
            per_ms.append((time.perf_counter() - one) * 1000)
    return len(per_ms) / (time.perf_counter() - started), per_ms, ok


def throughput(repeat: int, timeout_s: float) -> None:
    """Print statements/s of the in-process yardstick and of SandboxSession on the demo's gold SQL."""
    domain = load_domain(DOMAIN)
    if domain.gold_bank is None or domain.database_path is None:
        raise SystemExit(f"{DOMAIN} has no gold_bank.json or database")
    dialect = domain.config.sql_dialect
    queries = domain.gold_bank["sql"].to_list()
    checked = [check_sql(sql, dialect).sql or "SELECT 1" for sql in queries]
    con = build_instance(domain.database_path, domain.catalog)
    started = time.perf_counter()
    session = SandboxSession(domain.database_path, timeout_s=timeout_s)
    start_s = time.perf_counter() - started
    rows = [
        ("in-process engine only", timed(lambda sql: in_process(con, sql, timeout_s, 1000), checked, repeat)),
        (
            "in-process check + engine",
            timed(
                lambda sql: in_process(con, check_sql(sql, dialect).sql or "SELECT 1", timeout_s, 1000), queries, repeat
            ),
        ),
        ("SandboxSession (worker)", timed(lambda sql: session.execute(sql, dialect).ok, queries, repeat)),
    ]
    session.close()
    con.close()
    print(f"throughput: {len(queries)} gold SQL x {repeat} on {domain.database_path.name}")
    print(f"  worker start {start_s * 1000:.0f} ms (once per session, and after each kill)")
    for name, (rate, per_ms, ok) in rows:
        p95 = statistics.quantiles(per_ms, n=20)[18]
        print(
            f"  {name:28s} {rate:8.1f} statements/s  median {statistics.median(per_ms):6.2f} ms"
            f"  p95 {p95:6.2f} ms  ({ok}/{len(per_ms)} ok)"
        )


def bounds(timeout_s: float, memory_limit: str) -> None:
    """Print the wall time and peak memory growth of every runaway statement of the hostile corpus."""
    entries = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    runaway = [e for e in entries if e["kind"].startswith("runaway_")]
    sandbox = SqlSandbox(timeout_s=timeout_s, memory_limit=memory_limit)
    print(f"bounds: {len(runaway)} runaway statements, timeout {timeout_s:g} s, memory_limit {memory_limit}")
    worst_s, worst_growth = 0.0, 0
    for entry in runaway:
        with sandbox.session(None, _corpus_catalog()) as session:
            session.execute("SELECT 1")
            baseline = session.peak_rss_bytes
            started = time.perf_counter()
            result = session.execute(entry["sql"])
            elapsed = time.perf_counter() - started
            growth = session.peak_rss_bytes - baseline
        worst_s, worst_growth = max(worst_s, elapsed), max(worst_growth, growth)
        outcome = (result.error or "ok").split(":")[0]
        print(f"  {entry['kind']:28s} {elapsed:6.2f} s  +{growth / MIB:6.0f} MiB  {outcome}")
    print(f"  worst: {worst_s:.2f} s wall, +{worst_growth / MIB:.0f} MiB peak resident memory above the idle worker")


def _corpus_catalog() -> pl.DataFrame:
    """The tables the hostile corpus names: orders(id, customer_id, amount) and customers(id, name)."""
    rows = [
        ("orders", "id", [str(i) for i in range(1, 31)]),
        ("orders", "customer_id", ["1", "2", "3"]),
        ("orders", "amount", ["9.5", "20", "100.25"]),
        ("customers", "id", ["1", "2", "3"]),
        ("customers", "name", ["Ann", "Bob", "O'Hara"]),
    ]
    return pl.DataFrame(
        {
            "table_name": [r[0] for r in rows],
            "column_name": [r[1] for r in rows],
            "possible_values": [r[2] for r in rows],
        },
        schema={"table_name": pl.Utf8, "column_name": pl.Utf8, "possible_values": pl.List(pl.Utf8)},
    )


def main() -> None:
    """Parse the arguments and print both sets of figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--memory-limit", default="512MB")
    args = parser.parse_args()
    throughput(args.repeat, args.timeout)
    bounds(args.timeout, args.memory_limit)


if __name__ == "__main__":
    main()
