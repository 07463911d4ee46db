"""Stage 1 on the demo domain with the bundled models: a cold run, then a warm run on the same home.

Run: .venv/bin/python benchmarks/stage1.py [--home DIR]
Prints wall time, model calls, generated tokens/s, the funnel and peak RSS of each run, and warm/cold.
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import dagster as dg

from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.synthesis.assets import extracted_columns, forward_queries, nl2sql_candidates
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager, connect_readonly

DOMAIN = Path(__file__).resolve().parents[1] / "project_data"


def run_once(home: Path, chat: ChatModel) -> dict[str, float]:
    """Materialize Stage 1 once; return wall time, model calls and generated tokens."""
    stats = chat.client().stats
    calls, tokens = stats.model_calls, stats.new_tokens
    start = time.perf_counter()
    result = dg.materialize(
        [schema_catalog, forward_queries, nl2sql_candidates, extracted_columns],
        resources={
            "io_manager": WarehouseIOManager(home=str(home)),
            "domain": DomainResource(path=str(DOMAIN)),
            "chat": chat,
            "embedder": Embedder(),
            "sandbox": SqlSandbox(),
        },
    )
    seconds = time.perf_counter() - start
    assert result.success
    generated = result.asset_materializations_for_node("forward_queries")[0].metadata["generated"].value
    return {
        "seconds": seconds,
        "model_calls": stats.model_calls - calls,
        "tokens": stats.new_tokens - tokens,
        "generated_questions": generated,
    }


def main() -> None:
    """Cold, then warm; print both and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="asasql-stage1-"))
    chat = ChatModel(home=str(home))
    runs = {name: run_once(home, chat) for name in ("cold", "warm")}
    con = connect_readonly(Home(home))
    try:
        questions, candidates, with_sql, parsed, executed = con.execute(
            "select (select count(*) from forward_queries), (select count(*) from nl2sql_candidates), "
            "(select count(*) from nl2sql_candidates where sql is not null), "
            "(select sum(parse_ok::int) from extracted_columns), (select sum(exec_ok::int) from extracted_columns)"
        ).fetchone()
    finally:
        con.close()
    for name, run in runs.items():
        rate = run["tokens"] / run["seconds"] if run["tokens"] else 0.0
        print(
            f"{name}: {run['seconds']:7.1f} s  model calls {run['model_calls']:4d}  "
            f"tokens {run['tokens']:6d}  ({rate:5.1f} tok/s overall)"
        )
    print(f"warm/cold wall time: {runs['warm']['seconds'] / runs['cold']['seconds']:.3f}")
    print(
        f"funnel: generated {runs['cold']['generated_questions']} → deduplicated {questions} questions → "
        f"{candidates} candidates ({with_sql} with SQL) → parse_ok {parsed} → exec_ok {executed}"
    )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; home {home}")


if __name__ == "__main__":
    main()
