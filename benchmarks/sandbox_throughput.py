"""Per-item figures for docs/scaling.md that need no model: the sandbox, the clustering, the storage.

Run: .venv/bin/python benchmarks/sandbox_throughput.py [--repeat 3] [--cluster-rows 25000 50000 100000]
     [--home DIR]

1. Sandbox: every gold SQL of project_data/gold_bank.json, checked (sqlglot) and executed in one
   SqlSandbox session on the demo's database.duckdb, as `extracted_columns` does (one session, one
   statement at a time). Prints the session's build time, queries/s, and the median and p95 ms per query,
   and the rate of the sqlglot check alone.
2. Clustering: the project's own `kmeans` (faiss spherical k-means, k=8, 25 iterations) and
   `redundant_members` (the greedy near-duplicate pass within each cluster, threshold 0.95), as the
   `clusters` asset runs them, on seeded Gaussian rows of 384 dimensions (all-MiniLM-L6-v2's width). Random
   rows are nearly orthogonal, so no row is redundant and every row is kept: the worst case of the
   redundancy pass, whose cost grows with the square of a cluster's size.
   Wall and CPU seconds are both printed: on a machine shared with other jobs, wall time overstates.
3. Storage (with --home): bytes per row of each asset's Parquet file in an existing ASASQL_HOME (the fixed
   footer of a small file counts in), its size in memory as polars estimates it, and the same for the LLM
   cache.
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl

from asasql_assets.active.selection import cluster_pool, redundant_members
from asasql_resources.domain.loader import load_domain
from asasql_resources.sandbox import SqlSandbox, check_sql

DOMAIN = Path(__file__).resolve().parents[1] / "project_data"
DIM = 384
K = 8
REDUNDANCY_THRESHOLD = 0.95


def sandbox_figures(repeat: int) -> None:
    """Time the check and the execution of every gold SQL of the demo domain."""
    domain = load_domain(DOMAIN)
    if domain.gold_bank is None:
        raise SystemExit(f"{DOMAIN} has no gold_bank.json")
    dialect = domain.config.sql_dialect
    queries = domain.gold_bank["sql"].to_list()

    started = time.perf_counter()
    session = SqlSandbox().session(domain.database_path, domain.catalog)
    build_s = time.perf_counter() - started

    with session:
        for sql in queries[:10]:  # warm DuckDB's caches, as a long run would be
            session.execute(sql, dialect)
        per_query_ms: list[float] = []
        ok = 0
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            for sql in queries:
                one = time.perf_counter()
                result = session.execute(sql, dialect)
                per_query_ms.append((time.perf_counter() - one) * 1000)
                ok += result.ok
        exec_s, exec_cpu = time.perf_counter() - started, time.process_time() - cpu

    started = time.perf_counter()
    for _ in range(repeat):
        for sql in queries:
            check_sql(sql, dialect)
    check_s = time.perf_counter() - started

    runs = repeat * len(queries)
    quantiles = statistics.quantiles(per_query_ms, n=20)
    print(
        f"sandbox: {len(queries)} gold SQL x {repeat} on {domain.database_path.name if domain.database_path else 'a synthesized instance'}"
    )
    print(f"  session build        {build_s:8.3f} s (once per asset run)")
    print(
        f"  check + execute      {runs / exec_s:8.1f} queries/s wall, {runs / exec_cpu:.1f} per CPU-second "
        f"(median {statistics.median(per_query_ms):.2f} ms, p95 {quantiles[18]:.2f} ms; {ok}/{runs} ok)"
    )
    print(f"  sqlglot check alone  {runs / check_s:8.1f} queries/s  ({check_s / runs * 1000:.2f} ms each)")


def clustering_figures(sizes: list[int]) -> None:
    """Time kmeans and the redundancy pass, as the clusters asset runs them, at several pool sizes."""
    print(f"clustering: seeded Gaussian rows x {DIM}, k={K}, redundancy threshold {REDUNDANCY_THRESHOLD}")
    for rows in sizes:
        vectors = np.random.default_rng(0).standard_normal((rows, DIM)).astype(np.float32)
        started, cpu = time.perf_counter(), time.process_time()
        cluster_ids, _ = cluster_pool(vectors, K, seed=0)
        kmeans_s, kmeans_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        redundant = redundant_members(vectors, cluster_ids, REDUNDANCY_THRESHOLD)
        redundancy_s, redundancy_cpu = time.perf_counter() - started, time.process_time() - cpu
        largest = int(np.bincount(cluster_ids).max())
        print(
            f"  {rows:>8,} rows: k-means {kmeans_s:7.2f} s wall {kmeans_cpu:7.2f} s CPU, "
            f"redundancy pass {redundancy_s:7.2f} s wall {redundancy_cpu:7.2f} s CPU "
            f"(largest cluster {largest:,}, {int(redundant.sum())} redundant)"
        )


def storage_figures(home: Path) -> None:
    """Bytes per row of every asset file of a home (the Parquet footer is a fixed cost, so tiny tables overstate)."""
    files = sorted((home / "parquet").glob("*/*.parquet"))
    if not files:
        raise SystemExit(f"no asset Parquet files under {home / 'parquet'}")
    print(f"storage: {home}")
    print(f"  {'asset':26s} {'partition':10s} {'rows':>7s} {'bytes':>10s} {'bytes/row':>9s} {'in memory/row':>13s}")
    for path in files:
        frame = pl.read_parquet(path)
        size = path.stat().st_size
        rows = max(frame.height, 1)
        print(
            f"  {path.parent.name:26s} {path.stem:10s} {frame.height:7,} {size:10,} {size / rows:9.0f} "
            f"{frame.estimated_size() / rows:13.0f}"
        )
    cache = sorted((home / "cache" / "llm").glob("*.parquet"))
    if cache:
        frame = pl.concat([pl.read_parquet(path) for path in cache])
        size = sum(path.stat().st_size for path in cache)
        rows = max(frame.height, 1)
        print(
            f"  {'_llm_cache':26s} {len(cache):3d} files {frame.height:7,} {size:10,} {size / rows:9.0f} "
            f"{frame.estimated_size() / rows:13.0f}  (prompts of {frame['prompt'].str.len_chars().mean():.0f} characters on average)"
        )


def main() -> None:
    """Run the sections that were asked for."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the gold bank (default 3)")
    parser.add_argument(
        "--cluster-rows", type=int, nargs="*", default=[25_000, 50_000, 100_000], help="pool sizes; none skips"
    )
    parser.add_argument("--home", type=Path, default=None, help="an ASASQL_HOME to measure bytes per row in")
    args = parser.parse_args()
    sandbox_figures(args.repeat)
    if args.cluster_rows:
        clustering_figures(args.cluster_rows)
    if args.home is not None:
        storage_figures(args.home)


if __name__ == "__main__":
    main()
