"""What the NL2SQL training data and prompt buy: fine-tune SmolLM2 on gold-bank pairs and measure EX on the test set.

Run: .venv/bin/python benchmarks/sft_data.py --gold 48 --swaps 2 --lora-layers 15 --examples --test 60

The training set is a seeded sample of `--gold` demo gold-bank pairs plus the positive samples of
data_sample.json, with `--swaps` value swaps per pair. With `--examples`, every prompt shows the nearest other
pair (training) or the nearest pair (test) of that set. Prints the base model's and the fine-tuned model's EX
on a seeded sample of `--test` test questions, overall and per category, and the training time. The rows of
the README's "what each change bought" table were measured with this script's prototype, with these settings:
--gold 48 --swaps 0 --lora-layers 0; --gold 150 --swaps 0 --lora-layers 0 --epochs 2; --gold 48 --swaps 2;
--gold 48 --swaps 2 --examples.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl
import torch

from asasql_assets.evaluation.runs import evaluate_model, test_items
from asasql_assets.finetune.augment import value_swaps
from asasql_resources.domain import load_domain
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.examples import ExampleBank
from asasql_resources.nl2sql.finetune import SftSettings, train_sft
from asasql_resources.nl2sql.predict import Predictor
from asasql_resources.nl2sql.prompt import domain_schema_context
from asasql_resources.nl2sql.training import training_examples
from asasql_resources.sandbox import SqlSandbox

DEMO = Path(__file__).resolve().parents[1] / "project_data"


def main() -> None:
    """Build the training set, evaluate the base, fine-tune, evaluate again, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=int, default=48, help="gold-bank pairs in the training set")
    parser.add_argument("--swaps", type=int, default=2, help="value swaps per pair (0: none)")
    parser.add_argument("--lora-layers", type=int, default=15, help="adapted top layers (0: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--examples", action="store_true", help="show the nearest pair in every prompt")
    parser.add_argument("--test", type=int, default=60, help="test questions (a seeded sample)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    domain = load_domain(DEMO)
    context = domain_schema_context(domain.catalog)
    gold = domain.gold_bank.sample(args.gold, seed=0).select("question", "sql")
    samples = domain.samples.filter(pl.col("label")).select(pl.col("origin_query").alias("question"), "sql")
    pairs = pl.concat([gold, samples])
    items = test_items(domain.test_set, args.test, seed=1)
    embedder = Embedder()
    with SqlSandbox().session(domain.database_path, domain.catalog) as session:
        swapped, _ = value_swaps(
            pairs, domain.catalog, "duckdb", lambda sql: session.execute(sql, "duckdb"), per_pair=args.swaps, seed=0
        )
        dataset = pl.concat([pairs, swapped.select("question", "sql")])
        bank = ExampleBank(dataset, embedder) if args.examples else None
        prompter = Predictor(None, context, "duckdb", bank)
        at_test = prompter.examples(items["question"].to_list())
        print(
            f"training set: {pairs.height} pairs + {swapped.height} value swaps; examples in prompts: {args.examples}"
        )

        def judged(name: str, model: torch.nn.Module, tokenizer: object) -> pl.DataFrame:
            predictor = Predictor(lambda: (model, tokenizer), context, "duckdb")
            _, summary = evaluate_model(
                name, predictor, items, at_test, session, max_new_tokens=128, batch_size=16, log=lambda line: None
            )
            return summary

        base = judged("base", *Nl2SqlBase().load())
        started = time.perf_counter()
        settings = SftSettings(epochs=args.epochs, lora_layers=args.lora_layers or None)
        model, tokenizer, report = train_sft(
            Nl2SqlBase().location(), training_examples(prompter, dataset), settings, print
        )
        seconds = time.perf_counter() - started
        tuned = judged("fine_tuned", model, tokenizer)
    print(f"trained in {seconds:.0f} s, best epoch {report.best_epoch}, val_loss {report.val_loss:.3f}")
    with pl.Config(tbl_rows=40):
        print(pl.concat([base, tuned]).select("model", "category", "n", "ex", "parse_rate", "exec_rate"))


if __name__ == "__main__":
    main()
