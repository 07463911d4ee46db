"""Stage 1 assets: forward_queries, nl2sql_candidates and extracted_columns."""

import dagster as dg
import polars as pl
from pydantic import Field

from asasql_assets.failures import user_errors
from asasql_assets.outputs import markdown_sample, table_output
from asasql_assets.progress import progress_line
from asasql_assets.synthesis.extraction import extract_columns
from asasql_assets.synthesis.steps import reference_questions, synthesize_candidates, synthesize_questions
from asasql_assets.versions import code_version
from asasql_resources.domain.resource import DomainResource
from asasql_resources.domain.samples import GOLD_BANK_FILE
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.answer import SQL_MAX_NEW_TOKENS
from asasql_resources.sandbox import SqlSandbox

GROUP = "stage1_synthesis"
KINDS = {"polars", "parquet", "duckdb"}


class ForwardQueriesConfig(dg.Config):
    """Settings of question synthesis."""

    prompts_per_table: int = Field(default=2, ge=1, description="Prompts per table; strategies cycle across them.")
    questions_per_prompt: int = Field(default=4, ge=1, description="Questions each prompt asks for.")
    temperature: float = Field(default=0.8, ge=0, description="Sampling temperature of the chat model.")
    max_new_tokens: int = Field(default=160, ge=16, description="Tokens per answer.")
    dedup_threshold: float = Field(
        default=0.92, gt=0, le=1.0, description="Cosine similarity at which a question is a near-duplicate."
    )
    seed: int = Field(default=0, description="Seed of column selection and sampling.")


class CandidatesConfig(dg.Config):
    """Settings of SQL candidate generation."""

    k: int = Field(default=3, ge=1, description="SQL candidates per question.")
    temperature: float = Field(default=0.7, ge=0, description="Sampling temperature of the chat model.")
    max_new_tokens: int = Field(default=SQL_MAX_NEW_TOKENS, ge=16, description="Tokens per SQL answer.")
    gold_bank_questions: int = Field(
        default=80,
        ge=0,
        description="Gold-bank questions (a seeded sample) that join the pool so the reference annotator can label "
        "them in simulations; 0 leaves them out. Ignored when the domain has no gold_bank.json.",
    )
    seed: int = Field(default=0, description="Seed of column selection and sampling.")


@dg.asset(
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds=KINDS,
    description="One row per synthesized natural-language question about one table, after deduplication.",
)
def forward_queries(
    context: dg.AssetExecutionContext,
    config: ForwardQueriesConfig,
    schema_catalog: pl.DataFrame,
    schema_catalog__concepts: pl.DataFrame,
    schema_catalog__samples: pl.DataFrame,
    schema_catalog__test_set: pl.DataFrame,
    domain: DomainResource,
    chat: ChatModel,
    embedder: Embedder,
) -> dg.Output[pl.DataFrame]:
    """The chat model writes questions per table from its description, concepts and sampled columns."""
    with user_errors():
        loaded = domain.load()
        before = chat.client().stats.model_calls
        questions, counts = synthesize_questions(
            schema_catalog,
            schema_catalog__concepts,
            schema_catalog__samples,
            schema_catalog__test_set["question"].to_list(),
            chat,
            embedder,
            prompts_per_table=config.prompts_per_table,
            questions_per_prompt=config.questions_per_prompt,
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            dedup_threshold=config.dedup_threshold,
            seed=config.seed,
            language=loaded.config.language,
            about=loaded.config.description,
            progress=progress_line(context.log.info, "forward_queries", "prompts"),
        )
    per_table = questions.group_by("table_name").len().sort("table_name")
    return table_output(
        questions,
        {
            **counts,
            "model_calls": chat.client().stats.model_calls - before,
            "per_table": dg.MetadataValue.md(markdown_sample(per_table, rows=per_table.height)),
        },
    )


@dg.asset(
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds=KINDS,
    description="One row per SQL candidate: k per question, each from its own column selection and sample.",
)
def nl2sql_candidates(
    context: dg.AssetExecutionContext,
    config: CandidatesConfig,
    forward_queries: pl.DataFrame,
    schema_catalog: pl.DataFrame,
    schema_catalog__samples: pl.DataFrame,
    schema_catalog__gold_bank: pl.DataFrame,
    domain: DomainResource,
    chat: ChatModel,
) -> dg.Output[pl.DataFrame]:
    """The chat model writes k SQL candidates per question (and sampled gold-bank questions), after two examples."""
    with user_errors():
        loaded = domain.load()
        dialect = loaded.config.sql_dialect
        before = chat.client().stats.model_calls
        references = reference_questions(
            schema_catalog__gold_bank.select("question", "sql"),
            schema_catalog,
            limit=config.gold_bank_questions,
            seed=config.seed,
            dialect=dialect,
            model=GOLD_BANK_FILE,
        )
        candidates, counts = synthesize_candidates(
            pl.concat([forward_queries, references]),
            schema_catalog,
            schema_catalog__samples,
            chat,
            k=config.k,
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
            dialect=dialect,
            progress=progress_line(context.log.info, "nl2sql_candidates", "prompts"),
        )
    by_strategy = candidates.group_by("strategy").agg(pl.len(), pl.col("sql").is_not_null().sum().alias("with_sql"))
    return table_output(
        candidates,
        {
            **counts,
            "gold_bank_questions": references.height,
            "model_calls": chat.client().stats.model_calls - before,
            "by_strategy": dg.MetadataValue.md(markdown_sample(by_strategy.sort("strategy"), rows=by_strategy.height)),
        },
    )


@dg.asset(
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds=KINDS,
    description="One row per SQL candidate with the tables and columns it uses, checked against the catalog, "
    "and its execution in the sandbox.",
)
def extracted_columns(
    context: dg.AssetExecutionContext,
    nl2sql_candidates: pl.DataFrame,
    schema_catalog: pl.DataFrame,
    domain: DomainResource,
    sandbox: SqlSandbox,
) -> dg.Output[pl.DataFrame]:
    """sqlglot finds tables and columns, the catalog checks them, and the sandbox runs each SQL."""
    with user_errors():
        loaded = domain.load()
    with sandbox.session(loaded.database_path, schema_catalog) as session:
        checked = extract_columns(
            nl2sql_candidates,
            schema_catalog,
            loaded.config.sql_dialect,
            session,
            progress=progress_line(context.log.info, "extracted_columns", "candidates"),
        )
    total = max(checked.height, 1)
    drops = checked.group_by("drop_reason").len().sort("len", descending=True)
    return table_output(
        checked,
        {
            "candidates": checked.height,
            "parse_rate": round(checked["parse_ok"].sum() / total, 4),
            "exec_rate": round(checked["exec_ok"].sum() / total, 4),
            "empty_results": int((checked["exec_ok"] & checked["empty_result"]).sum()),
            "drop_reasons": dg.MetadataValue.md(markdown_sample(drops.fill_null("kept"), rows=drops.height)),
        },
    )
