"""Label efficiency of the selection strategies on the demo domain, with the reference annotator.

Run: .venv/bin/python benchmarks/label_efficiency.py [--rounds 4] [--budget 12] [--seeds 3] [--base embedder]

The pool is a seeded sample of project_data's gold-bank questions, each with k SQL candidates from the bundled chat
model (cached in --home). SmolLM2-135M writes almost no correct SQL for these questions (0 of 90 candidates for the
first 30), so each question also gets its gold SQL and up to --mutants rule-based mutations of it (another literal,
a dropped condition, a flipped order, a swapped aggregate): a pool with both classes, as a stronger generator makes.
Every executable pair is labeled by execution match against the gold SQL (the reference annotator). A fixed 30% of
the questions is held out: their pairs are the evaluation set. For each strategy and seed, R rounds of budget B select pairs from the rest; after each
round a fresh reward model is trained on data_sample.json plus the labels so far and scored on the held-out pairs.
It prints accuracy and AUC against the number of labels, the bar (labels hybrid needs to reach random's accuracy at
the full budget, as a share of that budget), and saves a PNG of the curves.
"""

import argparse
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import sqlglot
from sqlglot import exp

from asasql_assets.active.selection import STRATEGIES, cluster_pool, redundant_members, select_batch
from asasql_assets.synthesis.extraction import extract_columns
from asasql_assets.synthesis.steps import reference_questions, synthesize_candidates
from asasql_resources.annotation import reference_labels
from asasql_resources.domain import load_domain
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.models.training import TrainingSettings
from asasql_resources.reward.model import RewardSettings, load_reward_model
from asasql_resources.reward.pairs import training_frame, with_context
from asasql_resources.reward.training import REWARD_TRAINING, binary_metrics, train_reward_model
from asasql_resources.sandbox import SqlSandbox

DOMAIN = Path(__file__).resolve().parents[1] / "project_data"
SCORING = {"uncertainty", "hybrid"}
CHUNK_QUESTIONS = 10  # questions per generate call: the call cache keeps every finished chunk


def build_pool(home: Path, k: int, questions: int, generated_questions: int, mutant_count: int) -> pl.DataFrame:
    """Gold-bank questions with generated candidates (the first ones), gold SQL and mutants, labeled by reference."""
    domain = load_domain(DOMAIN)
    dialect = domain.config.sql_dialect
    asked = reference_questions(
        domain.gold_bank, domain.catalog, limit=questions, seed=0, dialect=dialect, model="gold"
    )
    chat = ChatModel(home=str(home), batch_size=32)
    started = time.perf_counter()
    chunks = []
    for start in range(0, min(generated_questions, asked.height), CHUNK_QUESTIONS):
        chunk, _ = synthesize_candidates(
            asked.slice(start, CHUNK_QUESTIONS),
            domain.catalog,
            domain.samples,
            chat,
            k=k,
            temperature=0.7,
            max_new_tokens=96,
            seed=0,
            dialect=dialect,
        )
        chunks.append(chunk)
        print(
            f"  candidates: {start + chunk['question_id'].n_unique()}/{generated_questions} questions, "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    gold = dict(zip(domain.gold_bank["question"].to_list(), domain.gold_bank["sql"].to_list(), strict=False))
    generated = pl.concat(chunks)
    candidates = with_gold_and_mutants(generated, asked, gold, domain.catalog, mutant_count)
    print(
        f"pool: {generated.height} generated candidates in {time.perf_counter() - started:.0f} s, "
        f"{candidates.height - generated.height} gold and mutants",
        flush=True,
    )
    with SqlSandbox().session(domain.database_path, domain.catalog) as session:
        checked = extract_columns(candidates, domain.catalog, dialect, session)
        executable = checked.filter(pl.col("exec_ok"))
        labels = reference_labels(executable.select("candidate_id", "question", "sql"), gold, session, dialect)
    pool = with_context(executable.join(labels.select("candidate_id", "label"), on="candidate_id"))
    return pool.filter(pl.col("label").is_not_null()).sort("candidate_id")


def mutants(sql: str, values: list[str], count: int, rng: random.Random) -> list[str]:
    """Up to `count` distinct rule-based mutations of one SQL statement (each a plausible wrong answer)."""

    def another_literal(tree: exp.Expression) -> None:
        texts = [node for node in tree.find_all(exp.Literal) if node.is_string]
        numbers = [node for node in tree.find_all(exp.Literal) if not node.is_string]
        if texts and values:
            node = rng.choice(texts)
            node.replace(exp.Literal.string(rng.choice([v for v in values if v != node.this] or values)))
        elif numbers:
            node = rng.choice(numbers)
            node.replace(exp.Literal.number(str(float(node.this) * 2 + 1).removesuffix(".0")))

    def drop_condition(tree: exp.Expression) -> None:
        where = tree.args.get("where")
        if where is None:
            return
        if isinstance(where.this, exp.And):
            where.this.replace(rng.choice([where.this.left, where.this.right]))
        else:
            where.pop()

    def flip_order(tree: exp.Expression) -> None:
        for ordered in tree.find_all(exp.Ordered):
            ordered.set("desc", not ordered.args.get("desc"))

    def swap_aggregate(tree: exp.Expression) -> None:
        swaps = {exp.Max: exp.Min, exp.Min: exp.Max, exp.Sum: exp.Avg, exp.Avg: exp.Sum}
        for node in tree.find_all(*swaps):
            node.replace(swaps[type(node)](this=node.this))
            return

    out: list[str] = []
    rules = [another_literal, drop_condition, flip_order, swap_aggregate, another_literal]
    rng.shuffle(rules)
    for rule in rules:
        tree = sqlglot.parse_one(sql, read="duckdb")
        rule(tree)
        text = tree.sql(dialect="duckdb")
        if text != sqlglot.parse_one(sql, read="duckdb").sql(dialect="duckdb") and text not in out:
            out.append(text)
        if len(out) == count:
            break
    return out


def with_gold_and_mutants(
    candidates: pl.DataFrame, asked: pl.DataFrame, gold: dict[str, str], catalog: pl.DataFrame, count: int
) -> pl.DataFrame:
    """The candidates plus, per asked question, its gold SQL and up to `count` mutations of it."""
    rng = random.Random(0)
    values = sorted({v for vs in catalog["possible_values"].to_list() for v in (vs or []) if v})
    rows = []
    for question_id, question, table in asked.select("question_id", "question", "table_name").iter_rows():
        for i, sql in enumerate([gold[question], *mutants(gold[question], values, count, rng)]):
            rows.append(
                {
                    "candidate_id": f"{question_id}-g{i}",
                    "question_id": question_id,
                    "question": question,
                    "table_name": table,
                    "sql": sql,
                    "strategy": "gold" if i == 0 else "mutant",
                    "context_truncated": False,
                    "raw_output": sql,
                }
            )
    return pl.concat([candidates, pl.DataFrame(rows, schema=candidates.schema)])


def train_and_evaluate(
    samples: pl.DataFrame,
    labeled: pl.DataFrame,
    held_out: pl.DataFrame,
    settings: RewardSettings,
    train: TrainingSettings,
) -> tuple[dict[str, float], object]:
    """A fresh reward model trained on samples plus the labeled pairs, and its metrics on the held-out pairs."""
    labels = labeled.select("question", "sql", "table", "column", "label").with_columns(pl.lit(0).alias("label_round"))
    examples = training_frame(samples, labels)
    handle = load_reward_model(settings)
    train_reward_model(handle, list(examples.select("question", "context", "sql", "label").iter_rows()), train)
    scores = handle.score(list(held_out.select("question", "context", "sql").iter_rows()))
    return binary_metrics(held_out["label"].to_list(), scores), handle


def run_strategy(
    strategy: str,
    seed: int,
    pool: pl.DataFrame,
    vectors: np.ndarray,
    held_out: pl.DataFrame,
    samples: pl.DataFrame,
    first: tuple[dict[str, float], np.ndarray],
    args: argparse.Namespace,
    settings: RewardSettings,
) -> list[tuple[int, float, float]]:
    """(labels, accuracy, AUC) after each round of one strategy."""
    cluster_ids, distances = cluster_pool(vectors, args.k_clusters, seed)
    redundant = redundant_members(vectors, cluster_ids, args.redundancy)
    metrics, scores = first
    curve = [(0, metrics["accuracy"], metrics["auc"])]
    labeled: set[str] = set()
    train = replace(REWARD_TRAINING, epochs=args.epochs, learning_rate=args.learning_rate, seed=seed)
    for _ in range(args.rounds):
        table = pl.DataFrame(
            {
                "candidate_id": pool["candidate_id"],
                "cluster_id": cluster_ids,
                "score": scores,
                "centroid_distance": distances,
                "redundant": redundant,
                "labeled": pool["candidate_id"].is_in(list(labeled)),
                "selectable": np.ones(pool.height, dtype=bool),
            }
        )
        chosen = select_batch(table, args.budget, strategy, seed).filter(pl.col("selected"))["candidate_id"].to_list()
        labeled |= set(chosen)
        metrics, handle = train_and_evaluate(
            samples, pool.filter(pl.col("candidate_id").is_in(list(labeled))), held_out, settings, train
        )
        curve.append((len(labeled), metrics["accuracy"], metrics["auc"]))
        if strategy in SCORING:
            scores = handle.score(list(pool.select("question", "context", "sql").iter_rows()))
        print(
            f"  {strategy:<11} seed {seed} labels {len(labeled):>3}: acc {metrics['accuracy']:.3f} auc {metrics['auc']:.3f}",
            flush=True,
        )
    return curve


def summarize(curves: dict[str, list[list[tuple[int, float, float]]]], full: int) -> str:
    """The mean curves, and the share of the full budget hybrid needs to reach random's full-budget accuracy."""
    lines = [f"{'strategy':<12}{'labels':>7}{'accuracy':>18}{'AUC':>18}"]
    means: dict[str, list[tuple[int, float]]] = {}
    for strategy, runs in curves.items():
        for step in range(len(runs[0])):
            acc = np.array([run[step][1] for run in runs])
            auc = np.array([run[step][2] for run in runs])
            count = runs[0][step][0]
            means.setdefault(strategy, []).append((count, float(acc.mean())))
            lines.append(
                f"{strategy:<12}{count:>7}{acc.mean():>11.3f} ± {acc.std():.3f}{auc.mean():>11.3f} ± {auc.std():.3f}"
            )
    if "random" in means and "hybrid" in means:
        target = means["random"][-1][1]
        reached = [count for count, acc in means["hybrid"] if acc >= target]
        share = f"{reached[0] / full:.0%}" if reached else "not reached"
        lines.append(
            f"\nbar: random reaches accuracy {target:.3f} with {full} labels; hybrid reaches it with "
            f"{reached[0] if reached else '—'} labels = {share} of the budget (bar: at most 60%)"
        )
    return "\n".join(lines)


def plot(curves: dict[str, list[list[tuple[int, float, float]]]], path: Path) -> None:
    """Accuracy and AUC against labels, one line (mean) and band (± sd) per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for strategy, runs in curves.items():
        counts = [point[0] for point in runs[0]]
        for axis, column, name in ((axes[0], 1, "accuracy"), (axes[1], 2, "AUC")):
            values = np.array([[point[column] for point in run] for run in runs])
            axis.plot(counts, values.mean(0), marker="o", label=strategy)
            axis.fill_between(counts, values.mean(0) - values.std(0), values.mean(0) + values.std(0), alpha=0.15)
            axis.set(xlabel="labels", ylabel=f"held-out {name}", title=f"reward model {name}")
    axes[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def main() -> None:
    """Build the pool, run every strategy over the seeds, print the curves and the bar, save the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".asasql-bench"), help="where the chat-model cache lives")
    parser.add_argument("--questions", type=int, default=120, help="gold-bank questions in the pool (a seeded sample)")
    parser.add_argument("--generated", type=int, default=30, help="of which the first get k generated candidates")
    parser.add_argument("--k", type=int, default=3, help="SQL candidates per question")
    parser.add_argument("--mutants", type=int, default=3, help="mutations of the gold SQL per question")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k-clusters", type=int, default=8)
    parser.add_argument("--redundancy", type=float, default=0.95)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--base", default="embedder", help="reward base: embedder (MiniLM) or '' (SmolLM2)")
    parser.add_argument("--max-length", type=int, default=64, help="tokens per pair (the schema context is cut first)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--png", type=Path, default=Path("benchmarks/label_efficiency.png"))
    args = parser.parse_args()
    started = time.perf_counter()
    pool = build_pool(args.home.resolve(), args.k, args.questions, args.generated, args.mutants)
    questions = sorted(set(pool["question"].to_list()))
    random.Random(0).shuffle(questions)
    held = set(questions[: int(0.3 * len(questions))])
    held_out, selectable = (
        pool.filter(pl.col("question").is_in(list(held))),
        pool.filter(~pl.col("question").is_in(list(held))),
    )
    print(
        f"pairs: {pool.height} executable with a reference ({int(pool['label'].sum())} correct); "
        f"held out {held_out.height} ({int(held_out['label'].sum())} correct) of {len(held)} questions; "
        f"selectable {selectable.height}",
        flush=True,
    )
    vectors = Embedder().encode([f"{q}\n{s}" for q, s in selectable.select("question", "sql").iter_rows()])
    samples = load_domain(DOMAIN).samples
    settings = RewardSettings(base=args.base, max_length=args.max_length)
    curves: dict[str, list[list[tuple[int, float, float]]]] = {s: [] for s in args.strategies.split(",")}
    for seed in range(args.seeds):
        train = replace(REWARD_TRAINING, epochs=args.epochs, learning_rate=args.learning_rate, seed=seed)
        metrics, handle = train_and_evaluate(samples, selectable.head(0), held_out, settings, train)
        scores = handle.score(list(selectable.select("question", "context", "sql").iter_rows()))
        for strategy in curves:
            curves[strategy].append(
                run_strategy(strategy, seed, selectable, vectors, held_out, samples, (metrics, scores), args, settings)
            )
    print()
    print(summarize(curves, args.rounds * args.budget))
    plot(curves, args.png)
    print(f"\nplot: {args.png}\ntotal: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
