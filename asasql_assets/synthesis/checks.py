"""Asset checks on Stage 1: non-empty outputs, lineage of candidates, execution rate, no test-set leak."""

import dagster as dg
import polars as pl

from asasql_assets.leaks import TEST_SET_IN, held_out_leak


@dg.asset_check(asset="forward_queries", description="At least one question survived parsing and deduplication.")
def forward_queries_not_empty(forward_queries: pl.DataFrame) -> dg.AssetCheckResult:
    """Fail when no question is left."""
    return dg.AssetCheckResult(passed=forward_queries.height > 0, metadata={"questions": forward_queries.height})


@dg.asset_check(
    asset="forward_queries",
    additional_ins=TEST_SET_IN,
    description="No question equals a held-out test-set question (normalised text).",
)
def no_test_set_leak(forward_queries: pl.DataFrame, schema_catalog__test_set: pl.DataFrame) -> dg.AssetCheckResult:
    """Fail, naming the questions, when a test-set question leaked into the pool."""
    return held_out_leak(forward_queries["question"].to_list(), schema_catalog__test_set)


@dg.asset_check(
    asset="nl2sql_candidates",
    additional_ins={
        "forward_queries": dg.AssetIn("forward_queries"),
        "schema_catalog__gold_bank": dg.AssetIn("schema_catalog__gold_bank"),
    },
    description="Candidates exist and every one belongs to a question of forward_queries or of the gold bank.",
)
def candidates_belong_to_questions(
    nl2sql_candidates: pl.DataFrame, forward_queries: pl.DataFrame, schema_catalog__gold_bank: pl.DataFrame
) -> dg.AssetCheckResult:
    """Fail on an empty pool or on candidates whose question is neither synthesized nor a gold-bank question."""
    orphans = nl2sql_candidates.join(forward_queries.select("question_id"), on="question_id", how="anti")
    orphans = orphans.filter(~pl.col("question").is_in(schema_catalog__gold_bank["question"].to_list()))
    from_gold = nl2sql_candidates.join(forward_queries.select("question_id"), on="question_id", how="anti").height
    return dg.AssetCheckResult(
        passed=nl2sql_candidates.height > 0 and orphans.is_empty(),
        metadata={
            "candidates": nl2sql_candidates.height,
            "from_gold_bank": from_gold - orphans.height,
            "orphans": orphans.height,
        },
    )


@dg.asset_check(asset="extracted_columns", description="Parse and execution rates; warns when nothing executes.")
def execution_rate(extracted_columns: pl.DataFrame) -> dg.AssetCheckResult:
    """Report the parse and exec rates; warn when no candidate executed."""
    total = max(extracted_columns.height, 1)
    executed = int(extracted_columns["exec_ok"].sum())
    return dg.AssetCheckResult(
        passed=executed > 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "parse_rate": round(int(extracted_columns["parse_ok"].sum()) / total, 4),
            "exec_rate": round(executed / total, 4),
            "executed": executed,
        },
    )
