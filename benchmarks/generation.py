"""Generation throughput on 32 NL2SQL prompts: naive sequential fp32 vs the batched backend (vs llama.cpp).

Run: .venv/bin/python benchmarks/generation.py [--prompts 32] [--max-new-tokens 64] [--batch-size 32] [--warm-calls 4]
All figures come from one process on the same prompts; tokens are the generated tokens, up to EOS. The naive
prompts and the warm batched calls are timed in turns, so that both see the same minutes of the machine.
"""

import argparse
import importlib.util
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import torch

from asasql_resources.domain import load_domain
from asasql_resources.models.decode import eos_ids
from asasql_resources.models.local import LocalChatBackend, load_causal_lm
from asasql_resources.models.locate import bundled_chat_model
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling

DOMAIN = Path(__file__).resolve().parents[1] / "project_data"
SYSTEM = "You translate questions into one DuckDB SQL query. Answer with SQL only."


def benchmark_prompts(count: int) -> list[ChatPrompt]:
    """Schema, then question, then the SQL cue: built from the demo domain's test questions."""
    domain = load_domain(DOMAIN)
    columns = domain.catalog.group_by("table_name", maintain_order=True).agg("column_name")
    schema = {t: f"{t}({', '.join(c)})" for t, c in columns.iter_rows()}
    questions = domain.test_set["question"].to_list()[:count]
    sqls = domain.test_set["sql"].to_list()[:count]
    prompts = []
    for question, sql in zip(questions, sqls):
        tables = [t for t in schema if t in sql]
        context = "\n".join(schema[t] for t in tables)
        prompts.append(ChatPrompt(system=SYSTEM, user=f"Schema:\n{context}\n\nQuestion: {question}\nSQL:"))
    return prompts


Rate = tuple[float, int, float]  # tokens/s, tokens, seconds


def naive_engine(max_new_tokens: int) -> Callable[[ChatPrompt], int]:
    """Plain `model.generate` on one prompt, fp32, no batching: the new tokens it made, stop tokens not counted."""
    loaded = load_causal_lm(bundled_chat_model(), "float32")
    tokenizer, model = loaded.tokenizer, loaded.model
    stop = eos_ids(model, tokenizer.eos_token_id).tolist()

    def new_tokens(prompt: ChatPrompt) -> int:
        ids = tokenizer.apply_chat_template(prompt.messages(), add_generation_prompt=True, return_tensors="pt")
        ids = ids["input_ids"] if not isinstance(ids, torch.Tensor) else ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return sum(token not in stop for token in out[0, ids.shape[1] :].tolist())

    return new_tokens


def interleaved_rates(
    prompts: list[ChatPrompt], max_new_tokens: int, batch_size: int, dtype: str, warm_calls: int
) -> tuple[Rate, Rate, Rate, str]:
    """Naive, batched first call and batched warm rates, the naive prompts and warm calls taken in turns.

    After one untimed naive prompt and the batched backend's first call on all prompts (which also builds
    oneDNN's kernels for each batch shape, once per process), the prompts are split into `warm_calls` parts:
    each part runs naive, then the batched backend runs all prompts once more. Both engines so share the same
    minutes of this shared machine, whose speed drifts by 10 to 20% over a few minutes.
    """
    naive = naive_engine(max_new_tokens)
    naive(prompts[0])
    backend = LocalChatBackend(bundled_chat_model(), dtype=dtype, batch_size=batch_size)
    backend.loaded()
    sampling = Sampling(max_new_tokens=max_new_tokens)
    totals = {"naive": [0, 0.0], "cold": [0, 0.0], "warm": [0, 0.0]}

    def batched(total: list) -> None:
        before, start = backend.stats.new_tokens, time.perf_counter()
        backend.generate(prompts, sampling)
        total[0] += backend.stats.new_tokens - before
        total[1] += time.perf_counter() - start

    batched(totals["cold"])
    for part in range(warm_calls):
        start = time.perf_counter()
        totals["naive"][0] += sum(naive(prompt) for prompt in prompts[part::warm_calls])
        totals["naive"][1] += time.perf_counter() - start
        batched(totals["warm"])
    rates = [(tokens / seconds, tokens, seconds) for tokens, seconds in totals.values()]
    return rates[0], rates[1], rates[2], str(backend.loaded().dtype)


def llamacpp_tokens_per_second(prompts: list[ChatPrompt], max_new_tokens: int) -> Rate | None:
    """llama.cpp single-stream on the same GGUF, 2 threads, when llama-cpp-python is installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    from llama_cpp import Llama

    location = bundled_chat_model()
    llm = Llama(model_path=str(location.folder / location.gguf_file), n_ctx=2048, n_threads=2, verbose=False)
    tokens, start = 0, time.perf_counter()
    for prompt in prompts:
        reply = llm.create_chat_completion(messages=prompt.messages(), max_tokens=max_new_tokens, temperature=0.0)
        tokens += reply["usage"]["completion_tokens"]
    seconds = time.perf_counter() - start
    return tokens / seconds, tokens, seconds


def main() -> None:
    """Print each engine's tokens/s, the batched/naive ratio, and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument(
        "--warm-calls", type=int, default=4, help="batched calls timed after the first, one after each naive part"
    )
    args = parser.parse_args()
    prompts = benchmark_prompts(args.prompts)
    print(f"{len(prompts)} prompts, max_new_tokens={args.max_new_tokens}, torch threads={torch.get_num_threads()}")
    naive, cold, batched, dtype = interleaved_rates(
        prompts, args.max_new_tokens, args.batch_size, args.dtype, args.warm_calls
    )
    print(f"naive sequential fp32:  {naive[0]:7.1f} tok/s  ({naive[1]} tokens in {naive[2]:.1f} s)")
    print(f"batched (batch {args.batch_size}, {dtype}), cold: {cold[0]:7.1f} tok/s  ({cold[1]} tokens in {cold[2]:.1f} s)")
    print(f"batched (batch {args.batch_size}, {dtype}), warm: {batched[0]:7.1f} tok/s  ({batched[1]} tokens in {batched[2]:.1f} s)")
    print(f"ratio batched/naive:    {batched[0] / naive[0]:7.1f}x warm, {cold[0] / naive[0]:.1f}x cold")
    llamacpp = llamacpp_tokens_per_second(prompts, args.max_new_tokens)
    if llamacpp is None:
        print("llama.cpp single-stream: not installed (pip install llama-cpp-python to compare)")
    else:
        print(f"llama.cpp single-stream: {llamacpp[0]:6.1f} tok/s  ({llamacpp[1]} tokens in {llamacpp[2]:.1f} s)")
        print(f"ratio batched/llama.cpp: {batched[0] / llamacpp[0]:6.2f}x")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS:               {peak_mib:7.0f} MiB")
    print(json.dumps({"naive_tok_s": naive[0], "batched_cold_tok_s": cold[0], "batched_tok_s": batched[0], "llamacpp_tok_s": llamacpp and llamacpp[0]}))


if __name__ == "__main__":
    main()
