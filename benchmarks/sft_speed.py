"""NL2SQL fine-tuning step time on the bundled SmolLM2: full rows, the shared prompt start run once, top layers only.

Run: .venv/bin/python benchmarks/sft_speed.py [--batches 3] [--threads 2]

One batch of 8 demo gold-bank examples with the demo's schema context, forward and backward in train mode,
timed in one process for three ways of computing the same loss: every row in full; the shared prompt start
(system turn and schema context) run once for the batch; and that with LoRA on the top 15 of 30 layers only.
A fourth way is the third with LoRA dropout 0.05 (the default before it became 0): what dropout's random
masks cost on the CPU. A fifth is the third with the frozen bottom layers' output computed once beforehand
(`sft_forward.Trunk`, what fine-tuning does in every epoch after that), whose one-time cost is printed too.
Prints the median seconds per batch, examples per second, the ratios to the full rows, and the loss of each
(equal by construction, except for dropout's).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from peft import get_peft_model

from asasql_resources.domain import load_domain
from asasql_resources.models.locate import bundled_chat_model
from asasql_resources.nl2sql import finetune as sft
from asasql_resources.nl2sql.prompt import domain_schema_context, nl2sql_prompt
from asasql_resources.nl2sql.sft_forward import Trunk, compute_trunk, layers_skipped

DEMO = Path(__file__).resolve().parents[1] / "project_data"
BATCH = 8


def step_seconds(
    model: torch.nn.Module, encoded: list, pad: int, batches: int, share: bool, trunk: Trunk | None = None
) -> tuple[float, float]:
    """Median seconds of a forward and backward pass over one batch, and its loss."""
    original = sft.shared_prefix
    if not share:
        sft.shared_prefix = lambda sequences, limit: 0
    try:
        times, loss = [], 0.0
        with layers_skipped(model, range(trunk.depth if trunk else 0)):
            for _ in range(batches):
                model.zero_grad()
                started = time.perf_counter()
                value, _ = sft.batch_loss(model, encoded, list(range(len(encoded))), pad, trunk)
                value.backward()
                times.append(time.perf_counter() - started)
                loss = value.item()
    finally:
        sft.shared_prefix = original
    return statistics.median(times), loss


def main() -> None:
    """Time the five ways and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="timed batches per way (the median is shown)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    domain = load_domain(DEMO)
    context = domain_schema_context(domain.catalog)
    base, tokenizer = sft.fresh_base(bundled_chat_model(), "float32")
    rows = domain.gold_bank.head(BATCH).iter_rows(named=True)
    encoded = [
        sft.encode_example(tokenizer, nl2sql_prompt(context, r["question"], "duckdb"), r["sql"], 640) for r in rows
    ]
    pad = sft.pad_id(tokenizer)
    settings = sft.SftSettings(lora_dropout=0.0)
    print(
        f"batch of {BATCH} examples, {statistics.mean(len(ids) for ids, _ in encoded):.0f} tokens each on average, "
        f"{sft.shared_prefix([ids for ids, _ in encoded], 10_000)} shared; {args.threads} torch thread(s)"
    )
    top = replace(settings, lora_layers=15)
    ways = [
        ("full rows, LoRA on all 30 layers", settings, False, False),
        ("shared start once, LoRA on all 30 layers", settings, True, False),
        ("shared start once, LoRA on the top 15 layers", top, True, False),
        ("the same with LoRA dropout 0.05", replace(top, lora_dropout=0.05), True, False),
        ("top 15 layers, frozen layers' output given", top, True, True),
    ]
    full = None
    for label, chosen, share, given in ways:
        model = get_peft_model(copy.deepcopy(base), chosen.lora_config(base)).train()
        trunk = None
        if given:
            started = time.perf_counter()
            trunk = compute_trunk(model, [ids for ids, _ in encoded], chosen.frozen_layers(base), BATCH, pad)
            print(
                f"frozen layers' output for the batch, computed once per fine-tune: {time.perf_counter() - started:.2f} s"
            )
        step_seconds(model, encoded, pad, 1, share, trunk)  # warm-up
        seconds, loss = step_seconds(model, encoded, pad, args.batches, share, trunk)
        full = full or seconds
        print(
            f"{label:<48} {seconds:6.2f} s/batch  {BATCH / seconds:5.2f} examples/s  "
            f"x{full / seconds:4.2f}  loss {loss:.4f}"
        )


if __name__ == "__main__":
    main()
