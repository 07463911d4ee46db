"""The nl2sql_evaluation asset: execution accuracy of the base, fine-tuned, labeled-only and adopted models."""

from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from asasql_assets.evaluation.runs import evaluate_model, record_run, test_items
from asasql_assets.failures import failure, user_errors
from asasql_assets.outputs import markdown_sample, table_output
from asasql_assets.plots import bars
from asasql_assets.versions import code_version
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.adapters import AdapterBaseMismatch
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.answer import SQL_MAX_NEW_TOKENS
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.examples import Example, load_bank
from asasql_resources.nl2sql.predict import BATCH_SIZE, Loader, Predictor
from asasql_resources.nl2sql.prompt import domain_schema_context
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import WarehouseIOManager
from asasql_resources.warehouse.io_manager import OPTIONAL_KEY

GROUP = "stage3_finetune"
ABLATION = "nl2sql_model_labeled_only"
ADOPTED = "adopted"  # the model nl2sql_model hands over (its gate's choice): the base's or fine_tuned's rows again


class EvaluationConfig(dg.Config):
    """What nl2sql_evaluation compares, and how it decodes."""

    labeled_only: bool = Field(
        default=True,
        description=f"Ablation: also evaluate {ABLATION} (fine-tuned on the labeled rows of filtered_dataset "
        "alone, with nl2sql_model's settings), to show what the synthetic data adds; it must have been "
        "materialized. Off: it is not evaluated, and need not exist.",
    )
    max_new_tokens: int = Field(default=SQL_MAX_NEW_TOKENS, ge=16, description="Tokens per greedy answer.")
    batch_size: int = Field(default=BATCH_SIZE, ge=1, description="Questions per batched decode.")
    test_limit: int | None = Field(
        default=None, ge=1, description="Evaluate on a seeded sample of this many test questions (all when unset)."
    )
    seed: int = Field(default=0, description="Seed of the test sample.")


@dg.asset(
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds={"pytorch", "parquet", "duckdb"},
    ins={ABLATION: dg.AssetIn(metadata={OPTIONAL_KEY: True})},
    description="One row per (model, category): execution accuracy (ex), parse and exec rates of the base model "
    f"(base), nl2sql_model's fine-tuned candidate (fine_tuned), the ablation {ABLATION} (labeled_only; evaluated "
    "when the config's labeled_only is on) and the model nl2sql_model's gate adopted (adopted: the same figures "
    "as base or fine_tuned, not decoded again) on schema_catalog__test_set (test_set.json), with the same prompt "
    "(each fine-tuned model's nearest bank example; the base is shown nl2sql_model's) and greedy decoding. "
    "Every run's figures are also appended to _evaluations, and its per-question judgements to _evaluation_items.",
)
def nl2sql_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    nl2sql_model: pl.DataFrame,
    nl2sql_model_labeled_only: pl.DataFrame | None,
    schema_catalog: pl.DataFrame,
    schema_catalog__test_set: pl.DataFrame,
    domain: DomainResource,
    sandbox: SqlSandbox,
    nl2sql_base: Nl2SqlBase,
    embedder: Embedder,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Predict every test question with each model, judge by execution, and record the run."""
    home = io_manager.layout
    trained = nl2sql_model.row(0, named=True)
    with user_errors(AdapterBaseMismatch):
        loaded = domain.load()
        if schema_catalog__test_set.is_empty():
            raise failure(ValueError(f"{loaded.path}: no test_set.json questions, so nothing to evaluate on"))
        if config.labeled_only and nl2sql_model_labeled_only is None:
            raise failure(
                ValueError(f"{ABLATION} has not been materialized: materialize it, or set labeled_only: false")
            )
        dialect = loaded.config.sql_dialect
        items = test_items(schema_catalog__test_set, config.test_limit, config.seed)
        schema_context = domain_schema_context(schema_catalog, max_chars=trained["context_chars"])
        adapter = Path(trained["adapter_path"])
        bank_embedder = embedder if trained["example_in_prompt"] else None
        questions = items["question"].to_list()
        shown = _shown(adapter, bank_embedder, questions)
        models: dict[str, tuple[Loader, list[Example | None]]] = {
            "base": (nl2sql_base.load, shown),
            "fine_tuned": (lambda: nl2sql_base.load(adapter), shown),
        }
        versions = {"base": nl2sql_base.location().identity, "fine_tuned": trained["model_version"]}
        if config.labeled_only and nl2sql_model_labeled_only is not None:
            ablation = nl2sql_model_labeled_only.row(0, named=True)
            ablation_dir = Path(ablation["adapter_path"])
            ablation_embedder = embedder if ablation["example_in_prompt"] else None
            models["labeled_only"] = (
                lambda: nl2sql_base.load(ablation_dir),
                _shown(ablation_dir, ablation_embedder, questions),
            )
            versions["labeled_only"] = ablation["model_version"]
        summaries, judged = [], []
        with sandbox.session(loaded.database_path, loaded.catalog) as session:
            for name, (load, examples) in models.items():
                predictor = Predictor(load, schema_context, dialect)
                per_item, summary = evaluate_model(
                    name,
                    predictor,
                    items,
                    examples,
                    session,
                    max_new_tokens=config.max_new_tokens,
                    batch_size=config.batch_size,
                    log=context.log.info,
                )
                context.log.info(f"nl2sql_evaluation: {name} EX {summary['ex'][0]:.3f} on {summary['n'][0]} questions")
                summaries.append(summary)
                judged.append(per_item)
                predictor.release()
    summary, per_item = pl.concat(summaries), pl.concat(judged)
    adopted = trained.get("adopted") or "fine_tuned"  # a row from before the gate: the adapter was handed over
    summary, per_item = (
        pl.concat([frame, frame.filter(pl.col("model") == adopted).with_columns(pl.lit(ADOPTED).alias("model"))])
        for frame in (summary, per_item)
    )
    versions[ADOPTED] = versions[adopted]
    context.log.info(f"nl2sql_evaluation: the adopted model is nl2sql_model's {adopted} (its rows, as {ADOPTED!r})")
    record_run(home, context.run.run_id, summary, per_item, versions)
    return table_output(summary, {"adopted": adopted, **_metadata(summary, per_item, items.height)})


def _shown(adapter_dir: Path, embedder: Embedder | None, questions: list[str]) -> list[Example | None]:
    """The example each question's prompt shows: its nearest pair in the adapter's bank (none without a bank)."""
    bank = load_bank(adapter_dir, embedder) if embedder is not None else None
    return bank.nearest(questions) if bank is not None else [None] * len(questions)


def _metadata(summary: pl.DataFrame, per_item: pl.DataFrame, questions: int) -> dict[str, object]:
    """EX per model, the comparison as a table and a bar plot, and a sample of the fine-tuned model's misses."""
    whole = summary.filter(pl.col("split") == "all") if "split" in summary.columns else summary  # every split
    overall = whole.filter(pl.col("category") == "all")
    categories = whole["category"].unique(maintain_order=True).to_list()
    by_model = {
        model: [frame.filter(pl.col("category") == c)["ex"].fill_null(0.0).sum() for c in categories]
        for (model,), frame in whole.group_by("model", maintain_order=True)
    }
    misses = per_item.filter((pl.col("model") == "fine_tuned") & ~pl.col("match").fill_null(True))
    return {
        "questions": questions,
        **{
            f"ex_{model}": round(float(ex), 4)
            for model, ex in overall.select("model", "ex").iter_rows()
            if ex is not None
        },
        "comparison": dg.MetadataValue.md(markdown_sample(summary, rows=summary.height)),
        "ex_by_category": bars(categories, by_model, "execution accuracy by category", "EX"),
        "fine_tuned_misses": dg.MetadataValue.md(
            markdown_sample(misses.select("question", "gold_sql", "predicted_sql", "error"), rows=10)
        ),
    }
