"""Resident memory of the default model's loads: the chat model, the NL2SQL base, a training copy, a merged adapter.

Run: .venv/bin/python benchmarks/model_memory.py [--adapter HOME/models/nl2sql_model/fine_tuned]

Prints RSS and peak RSS after each load, and whether the chat model (dtype auto) and the NL2SQL base (float32)
share one loaded model. Run it alone.
"""

import argparse
import gc
import resource
from pathlib import Path

from asasql_resources.models.local import load_causal_lm
from asasql_resources.models.locate import resolve_model
from asasql_resources.nl2sql.finetune import fresh_base, load_sft_model


def report(step: str) -> None:
    """One line: the step, the current RSS and the process's peak RSS, in GB."""
    current = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**30
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{step:<34} rss {current:5.2f} GB   peak {peak:5.2f} GB", flush=True)


def main() -> None:
    """Load as a demo run does, one step at a time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, default=None, help="a saved nl2sql adapter to merge in")
    args = parser.parse_args()
    location = resolve_model("", "ASASQL_CHAT_MODEL")
    report("start")
    chat = load_causal_lm(location, "auto")
    report("chat model (auto)")
    base = load_causal_lm(location, "float32")
    report("NL2SQL base (float32)")
    print(f"one loaded model for both: {chat.model is base.model}")
    copy, _ = fresh_base(location, "float32")
    report("training copy")
    del copy
    gc.collect()
    report("training copy dropped")
    if args.adapter is not None:
        merged, _ = load_sft_model(location, args.adapter, "float32")
        report("merged adapter")
        del merged
        gc.collect()
        report("merged adapter dropped")


if __name__ == "__main__":
    main()
