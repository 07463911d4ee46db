"""The three Stage 1 steps as plain functions: generate and clean questions, write SQL candidates, check them."""

from collections import Counter
from collections.abc import Iterable

import polars as pl

from asasql_assets.synthesis.candidates import build_candidate_prompts, sql_examples
from asasql_assets.synthesis.extraction import analyse_sql
from asasql_assets.synthesis.questions import (
    build_question_prompts,
    dedup_questions,
    involved_columns,
    parse_questions,
    question_id,
)
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.models.sampling import Progress
from asasql_resources.nl2sql.answer import SQL_STOP, extract_sql

QUESTION_SCHEMA = {
    "question_id": pl.String,
    "table_name": pl.String,
    "question": pl.String,
    "involved_columns": pl.List(pl.String),
    "strategy": pl.String,
    "prompt_hash": pl.String,
    "model": pl.String,
}
CANDIDATE_SCHEMA = {
    "candidate_id": pl.String,
    "question_id": pl.String,
    "question": pl.String,
    "table_name": pl.String,
    "sql": pl.String,
    "strategy": pl.String,
    "context_truncated": pl.Boolean,
    "raw_output": pl.String,
}


def synthesize_questions(
    catalog: pl.DataFrame,
    concepts: pl.DataFrame,
    samples: pl.DataFrame,
    test_questions: Iterable[str],
    chat: ChatModel,
    embedder: Embedder,
    *,
    prompts_per_table: int,
    questions_per_prompt: int,
    temperature: float,
    max_new_tokens: int,
    dedup_threshold: float,
    seed: int,
    language: str,
    about: str = "",
    progress: Progress | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Questions per table from the chat model, parsed, deduplicated; with the counts of every step."""
    prompts = build_question_prompts(
        catalog,
        concepts,
        samples,
        prompts_per_table=prompts_per_table,
        questions_per_prompt=questions_per_prompt,
        seed=seed,
        language=language,
        about=about,
    )
    answers = chat.generate(
        [p.prompt for p in prompts],
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
        progress=progress,
    )
    model = chat.client().identity
    rows, unparseable = [], 0
    for prompt, (answer,) in zip(prompts, answers, strict=False):
        questions = parse_questions(answer)
        unparseable += not questions
        offered = catalog.filter(pl.col("table_name") == prompt.table_name)
        for question in questions:
            rows.append(
                {
                    "question_id": question_id(prompt.table_name, question),
                    "table_name": prompt.table_name,
                    "question": question,
                    "involved_columns": involved_columns(question, prompt.columns, offered) or list(prompt.columns),
                    "strategy": prompt.strategy,
                    "prompt_hash": prompt.prompt_hash,
                    "model": model,
                }
            )
    generated = pl.DataFrame(rows, schema=QUESTION_SCHEMA)
    vectors = embedder.encode(generated["question"].to_list())
    kept, drops = dedup_questions(
        generated,
        vectors,
        dedup_threshold,
        sample_questions=samples["origin_query"].to_list(),
        test_questions=test_questions,
    )
    counts = {"prompts": len(prompts), "unparseable_answers": unparseable, "generated": generated.height}
    return kept, counts | {f"dropped_{reason}": n for reason, n in drops.items()} | {"kept": kept.height}


def reference_questions(
    gold_bank: pl.DataFrame, catalog: pl.DataFrame, *, limit: int, seed: int, dialect: str, model: str
) -> pl.DataFrame:
    """Up to `limit` gold-bank questions (a seeded sample) as question rows, so the reference annotator can label them.

    Each is asked about the first catalog table its gold SQL reads; its involved columns come from the question text,
    as for synthetic questions, so the prompts do not see the gold SQL.
    """
    if limit <= 0 or gold_bank.is_empty():
        return pl.DataFrame(schema=QUESTION_SCHEMA)
    chosen = gold_bank.sample(n=min(limit, gold_bank.height), seed=seed, shuffle=True)
    rows = []
    for question, sql in chosen.select("question", "sql").iter_rows():
        tables = analyse_sql(sql, dialect, catalog).tables
        if not tables:
            continue
        table = tables[0]
        offered = catalog.filter(pl.col("table_name") == table)
        rows.append(
            {
                "question_id": question_id(table, question),
                "table_name": table,
                "question": question,
                "involved_columns": involved_columns(question, offered["column_name"].to_list(), offered),
                "strategy": "gold_bank",
                "prompt_hash": None,
                "model": model,
            }
        )
    return pl.DataFrame(rows, schema=QUESTION_SCHEMA)


def _next(counter: Counter[str], key: str) -> int:
    """The next ordinal for a key, counting from 0."""
    counter[key] += 1
    return counter[key] - 1


def synthesize_candidates(
    questions: pl.DataFrame,
    catalog: pl.DataFrame,
    samples: pl.DataFrame,
    chat: ChatModel,
    *,
    k: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    dialect: str,
    progress: Progress | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """k SQL candidates per question, each from its own column selection and sample; with counts."""
    examples = sql_examples(samples, catalog, dialect)
    prompts = build_candidate_prompts(questions, catalog, k=k, seed=seed, dialect=dialect, examples=examples)
    answers = chat.generate(
        [p.prompt for p in prompts],
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
        progress=progress,
        stop=SQL_STOP,
    )
    ordinal: Counter[str] = Counter()
    rows = [
        {
            "candidate_id": f"{prompt.question_id}-{_next(ordinal, prompt.question_id)}",
            "question_id": prompt.question_id,
            "question": prompt.question,
            "table_name": prompt.table_name,
            "sql": extract_sql(answer, dialect),
            "strategy": prompt.strategy,
            "context_truncated": prompt.context_truncated,
            "raw_output": answer,
        }
        for prompt, (answer,) in zip(prompts, answers, strict=False)
    ]
    frame = pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)
    counts = {
        "questions": questions.height,
        "prompts": len(prompts),
        "context_truncated": int(frame["context_truncated"].sum()),
        "no_sql_extracted": int(frame["sql"].is_null().sum()),
        "candidates": frame.height,
    }
    return frame, counts
