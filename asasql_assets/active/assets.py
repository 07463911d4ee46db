"""Stage 2 assets, one partition per active-learning round: reward_model, reward_scores, clusters, labeled_rounds."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from asasql_assets.active.history import MissingRound, answered_questions, earlier_labels, labeled_ids
from asasql_assets.active.labeling import by_judge, by_reference, by_workbook, selected_items, with_corrections
from asasql_assets.active.selection import STRATEGIES, uncertainty_summary
from asasql_assets.active.steps import cluster_and_select, label_rows
from asasql_assets.failures import failure, user_errors
from asasql_assets.outputs import markdown_sample, table_output
from asasql_assets.partitions import ROUNDS, checked_round, round_number
from asasql_assets.plots import histogram, lines
from asasql_assets.progress import progress_line
from asasql_assets.settings import TrainingConfig
from asasql_assets.versions import code_version
from asasql_resources.annotation import Annotator
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.reward.model import RewardModel
from asasql_resources.reward.pairs import training_frame
from asasql_resources.reward.scoring import score_pool
from asasql_resources.reward.training import REWARD_TRAINING, train_round
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager, read_frame

GROUP = "stage2_active_learning"
KINDS = {"polars", "parquet", "duckdb"}


class ClustersConfig(dg.Config):
    """How the pool is clustered and how a round's batch is chosen."""

    k: int = Field(default=8, ge=1, description="k-means clusters over the (question, SQL) embeddings.")
    budget: int = Field(default=40, ge=0, description="Pairs selected for annotation per round.")
    strategy: str = Field(default="hybrid", description=f"Selection strategy: one of {', '.join(STRATEGIES)}.")
    redundancy_threshold: float = Field(
        default=0.95, gt=0, le=1, description="Cosine similarity at which a member of a cluster is redundant."
    )
    seed: int = Field(default=0, description="Seed of k-means and of the random strategy.")
    select_failing: bool = Field(
        default=True,
        description="Pairs whose SQL did not run are selectable too: the annotator labels them incorrect and "
        "supplies the corrected SQL (the reference annotator: the gold SQL), a training pair for nl2sql_model. "
        "Off: only pairs that executed, which the reward model alone needs.",
    )
    one_per_question: bool = Field(
        default=True,
        description="A batch holds at most one pair per question, and a question whose correct SQL is known "
        "(a pair labeled correct, or a correction) is not selected again: an annotator reads each question once.",
    )


def _key(context: dg.AssetExecutionContext) -> str:
    """This run's round key, exactly a round (round_0, round_1, …); any other partition key fails the run cleanly."""
    with user_errors(ValueError):
        return checked_round(context.partition_key)


def _round(context: dg.AssetExecutionContext) -> int:
    """This run's round number."""
    return round_number(_key(context))


@dg.asset(
    partitions_def=ROUNDS,
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds={"pytorch", "peft", "parquet"},
    description="One row per round: the reward model (a LoRA adapter) trained on data_sample.json plus the labels "
    "of every earlier round, read from the warehouse and recorded in `trained_on`.",
)
def reward_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    schema_catalog__samples: pl.DataFrame,
    reward_base: RewardModel,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Fine-tune the reward base with LoRA on the samples and all earlier labels (reused when nothing changed)."""
    home = io_manager.layout
    key = _key(context)
    number = round_number(key)
    with user_errors(MissingRound):
        labels, trained_on = earlier_labels(home, number)
    examples = training_frame(schema_catalog__samples, labels)
    context.log.info(f"{key}: training on {examples.height} examples ({labels.height} labels)")
    adapter_dir = home.models / "reward_model" / key
    with user_errors(ValueError):
        metrics, reused = train_round(
            reward_base, examples, config.settings(REWARD_TRAINING), adapter_dir, context.log.info
        )
    row = {
        "adapter_path": metrics["adapter_path"],
        "model_version": metrics["model_version"],
        "n_train": int(metrics["n_train"]),
        "n_val": int(metrics["n_val"]),
        "n_samples": int((examples["source"] == "data_sample").sum()),
        "n_labels": labels.height,
        "train_loss": metrics["train_loss"],
        "val_loss": metrics["val_loss"],
        "val_accuracy": metrics["val_accuracy"],
        "val_auc": metrics["val_auc"],
        **{name: int(metrics[name]) for name in ("tp", "fp", "tn", "fn")},
        "epochs_run": int(metrics["epochs_run"]),
        "trained_on": json.dumps(trained_on, sort_keys=True),
    }
    frame = pl.DataFrame([row], schema_overrides={"val_auc": pl.Float64, "val_loss": pl.Float64})
    return table_output(
        frame,
        {
            **{key: value for key, value in row.items() if value is not None and key != "trained_on"},
            "reused": reused,
            "trained_on": dg.MetadataValue.json(trained_on),
            "accuracy_by_round": _accuracy_plot(home, number, row),
        },
        upstream_versions=trained_on,
    )


def _accuracy_plot(home: Home, number: int, current: dict[str, object]) -> dg.MetadataValue:
    """Validation accuracy and AUC of every round's reward model so far, this one included."""
    points: dict[int, tuple[float, float | None]] = {}
    for path in (home.parquet / "reward_model").glob("round_*.parquet"):
        earlier = round_number(path.stem)
        if earlier != number:
            row = read_frame(path)[0].row(0, named=True)
            points[earlier] = (row["val_accuracy"], row["val_auc"])
    points[number] = (current["val_accuracy"], current["val_auc"])
    rounds = sorted(points)
    with_auc = [r for r in rounds if points[r][1] is not None]
    return lines(
        {
            "val accuracy": (rounds, [points[r][0] for r in rounds]),
            "val AUC": (with_auc, [points[r][1] for r in with_auc]),
        },
        "reward model by round",
        "round",
        "validation score",
    )


@dg.asset(
    partitions_def=ROUNDS,
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds=KINDS,
    description="One row per (question, SQL) candidate of the pool: its P(correct) under the round's reward model.",
)
def reward_scores(
    context: dg.AssetExecutionContext,
    reward_model: pl.DataFrame,
    extracted_columns: pl.DataFrame,
    reward_base: RewardModel,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Score the whole pool in batches; pairs already scored by this same model are reused."""
    model = reward_model.row(0, named=True)
    previous_path = io_manager.layout.asset_file("reward_scores", _key(context))
    previous = read_frame(previous_path)[0] if previous_path.exists() else None
    with user_errors():
        scores, reused = score_pool(
            reward_base,
            Path(model["adapter_path"]),
            model["model_version"],
            extracted_columns,
            previous,
            progress=progress_line(context.log.info, "reward_scores", "pairs"),
        )
    summary = uncertainty_summary(scores["score"].to_numpy())
    return table_output(
        scores,
        {
            "pairs": scores.height,
            "reused_scores": reused,
            "mean_score": round(float(scores["score"].mean() or 0.0), 4),
            **{f"uncertainty_{key}": round(value, 4) for key, value in summary.items()},
            "score_histogram": histogram(scores["score"].to_list(), "reward scores", "P(correct)"),
        },
    )


@dg.asset(
    partitions_def=ROUNDS,
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds=KINDS,
    description="One row per scored candidate: its cluster, whether it is redundant or already labeled, and "
    "whether this round selects it for annotation (with rank and reason).",
)
def clusters(
    context: dg.AssetExecutionContext,
    config: ClustersConfig,
    reward_scores: pl.DataFrame,
    extracted_columns: pl.DataFrame,
    embedder: Embedder,
    annotator: Annotator,
    schema_catalog__gold_bank: pl.DataFrame,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """k-means over embedded pairs, redundancy removal, then a budget of uncertain, diverse, unlabeled pairs."""
    if config.strategy not in STRATEGIES:
        raise failure(ValueError(f"strategy={config.strategy!r}: choose one of {', '.join(STRATEGIES)}"))
    with user_errors(MissingRound):
        labels, _ = earlier_labels(io_manager.layout, _round(context))
    references = None
    if annotator.kind == "reference":
        if schema_catalog__gold_bank.is_empty():
            raise failure(ValueError("the reference annotator needs gold_bank.json in the domain folder"))
        references = set(schema_catalog__gold_bank["question"].to_list())
    with user_errors():
        table = cluster_and_select(
            extracted_columns,
            reward_scores,
            embedder,
            labeled=labeled_ids(labels),
            references=references,
            k=config.k,
            budget=config.budget,
            strategy=config.strategy,
            redundancy_threshold=config.redundancy_threshold,
            seed=config.seed,
            failing_selectable=config.select_failing,
            answered=answered_questions(labels),
            one_per_question=config.one_per_question,
        )
    selected = table.filter(pl.col("selected")).sort("selection_rank")
    reasons = table.group_by(pl.col("reason").str.extract(r"^([a-z ]+)")).len().sort("len", descending=True)
    sizes = (
        table.group_by("cluster_id").agg(pl.len(), pl.col("selected").sum(), pl.col("score").mean()).sort("cluster_id")
    )
    return table_output(
        table,
        {
            "pool": table.height,
            "selected": selected.height,
            "eligible": int((table["selectable"] & ~table["labeled"] & ~table["redundant"]).sum()),
            "already_labeled": int(table["labeled"].sum()),
            "redundant": int(table["redundant"].sum()),
            "strategy": config.strategy,
            "reasons": dg.MetadataValue.md(markdown_sample(reasons, rows=reasons.height)),
            "clusters": dg.MetadataValue.md(markdown_sample(sizes, rows=sizes.height)),
            "selected_sample": dg.MetadataValue.md(
                markdown_sample(selected.select("candidate_id", "cluster_id", "score", "reason"))
            ),
        },
    )


@dg.asset(
    partitions_def=ROUNDS,
    group_name=GROUP,
    code_version=code_version(__name__),
    kinds=KINDS,
    description="One row per label of the round: the pair, its label, and who labeled it (annotator kind and id), "
    "under which reward model, and when. A corrected SQL adds a positive pair.",
)
def labeled_rounds(
    context: dg.AssetExecutionContext,
    clusters: pl.DataFrame,
    extracted_columns: pl.DataFrame,
    reward_scores: pl.DataFrame,
    annotator: Annotator,
    domain: DomainResource,
    sandbox: SqlSandbox,
    chat: ChatModel,
    schema_catalog: pl.DataFrame,
    schema_catalog__gold_bank: pl.DataFrame,
    io_manager: dg.ResourceParam[WarehouseIOManager],
) -> dg.Output[pl.DataFrame]:
    """Label the round's selected pairs with the configured annotator."""
    key = _key(context)
    if annotator.kind == "none":
        raise failure(ValueError("the annotator is none: no round is labeled (choose reference, workbook or judge)"))
    items = selected_items(clusters, extracted_columns)
    version = reward_scores["model_version"][0] if reward_scores.height else ""
    with user_errors():
        loaded = domain.load()
    dialect = loaded.config.sql_dialect
    annotator_id = annotator.default_id(chat.client().identity if annotator.kind == "judge" else "")
    with sandbox.session(loaded.database_path, schema_catalog) as session:
        try:
            if annotator.kind == "reference":
                gold = dict(
                    zip(
                        schema_catalog__gold_bank["question"].to_list(),
                        schema_catalog__gold_bank["sql"].to_list(),
                        strict=False,
                    )
                )
                decisions, corrections = by_reference(
                    items, gold, session, dialect, correct=annotator.reference_corrections
                )
                items, decisions = with_corrections(items, decisions, corrections)
            elif annotator.kind == "judge":
                decisions = by_judge(items, chat, seed=0)
            else:
                path = io_manager.layout.annotation_file(key)
                decisions, corrections = by_workbook(items, path, key, session, dialect)
                items, decisions = with_corrections(items, decisions, corrections)
        except (ValueError, FileNotFoundError) as error:  # AnnotationError is a ValueError
            raise failure(error) from None
    rows = label_rows(
        items,
        decisions,
        annotator_kind=annotator.kind,
        annotator_id=annotator_id,
        version=version,
    )
    undecided = decisions.filter(pl.col("label").is_null())
    return table_output(
        rows,
        {
            "selected": int(clusters["selected"].sum()),
            "labels": rows.height,
            "positive": int(rows["label"].sum()),
            "negative": int((~rows["label"]).sum()),
            "corrected": int((rows["source"] == "corrected").sum()),
            "undecided": undecided.height,
            "annotator": f"{annotator.kind} ({annotator_id})",
        },
    )
