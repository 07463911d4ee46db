"""Prompt tokens that prefill computes for the demo's candidate prompts, three ways, and the least possible.

Run: .venv/bin/python benchmarks/prefill_tokens.py [--gold 80] [--k 3] [--batch-size 32]

The prompts are nl2sql_candidates' prompts for a seeded sample of gold-bank questions (no model call is
needed to build them). The three ways:
- batches by length, computing the start all a batch's prompts share once, then each prompt's own tokens in
  groups of 8, each group padded to its longest prompt (the prefill before `PrefillPlan`);
- the same prefill on `prefix_batches` (lexicographic order, full batches);
- what `decode.prefill` computes now on `prefix_batches` (`PrefillPlan`): each run of prompts that shares a
  longer start computes it once, runs nest, and parts are grouped by length (`length_groups`).
The least possible is the number of distinct prompt prefixes: every token of a prefix tree computed once.
"""

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from transformers import AutoTokenizer

from asasql_assets.synthesis.candidates import build_candidate_prompts, sql_examples
from asasql_assets.synthesis.steps import reference_questions
from asasql_resources.domain import load_domain
from asasql_resources.domain.samples import GOLD_BANK_FILE
from asasql_resources.models.decode import PrefillPlan, prefix_batches
from asasql_resources.models.gguf_cache import loadable
from asasql_resources.models.locate import bundled_chat_model

DEMO = Path(__file__).resolve().parents[1] / "project_data"
ROWS = 8  # prompts per prefill forward before PrefillPlan


def shared_start_cost(batches: Sequence[Sequence[list[int]]]) -> int:
    """Prompt tokens computed over these batches by a prefill that shares only a batch's common start."""
    total = 0
    for batch in batches:
        shared = min(len(os.path.commonprefix(list(batch))), min(len(ids) for ids in batch) - 1)
        own = sorted(len(ids) - shared for ids in batch)
        total += shared + sum(
            max(own[start : start + ROWS]) * len(own[start : start + ROWS]) for start in range(0, len(own), ROWS)
        )
    return total


def main() -> None:
    """Build the prompts, batch them both ways, and print the prompt tokens each way computes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=int, default=80, help="gold-bank questions (a seeded sample)")
    parser.add_argument("--k", type=int, default=3, help="candidates per question")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    domain = load_domain(DEMO)
    dialect = domain.config.sql_dialect
    questions = reference_questions(
        domain.gold_bank, domain.catalog, limit=args.gold, seed=0, dialect=dialect, model=GOLD_BANK_FILE
    )
    examples = sql_examples(domain.samples, domain.catalog, dialect)
    prompts = build_candidate_prompts(questions, domain.catalog, k=args.k, seed=0, dialect=dialect, examples=examples)
    tokenizer = AutoTokenizer.from_pretrained(loadable(bundled_chat_model()).folder)
    encoded = [
        tokenizer(
            tokenizer.apply_chat_template(p.prompt.messages(), add_generation_prompt=True, tokenize=False),
            add_special_tokens=False,
        )["input_ids"]
        for p in prompts
    ]
    by_length = sorted(encoded, key=len)
    length_batches = [by_length[i : i + args.batch_size] for i in range(0, len(by_length), args.batch_size)]
    shared_batches = [[encoded[i] for i in batch] for batch in prefix_batches(encoded, args.batch_size)]
    plain = sum(len(ids) for ids in encoded)
    length_cost, shared_cost = shared_start_cost(length_batches), shared_start_cost(shared_batches)
    plan_cost = sum(PrefillPlan.of(batch).tokens(batch) for batch in shared_batches)
    print(f"{len(encoded)} prompts, {plain / len(encoded):.0f} tokens on average, {plain} in all")
    print(f"batches by length, common start once: {len(length_batches):>3} batches, {length_cost:>8} tokens computed")
    print(f"prefix_batches, common start once:    {len(shared_batches):>3} batches, {shared_cost:>8} tokens computed")
    print(f"prefix_batches, and each run's start: {len(shared_batches):>3} batches, {plan_cost:>8} tokens computed")
    print(
        f"least possible (a prefix tree):                     {len({tuple(ids[:n]) for ids in encoded for n in range(1, len(ids) + 1)}):>8} tokens"
    )
    print(
        f"ratio to batches by length: {length_cost / shared_cost:.2f}x, {length_cost / plan_cost:.2f}x fewer prompt tokens"
    )


if __name__ == "__main__":
    main()
