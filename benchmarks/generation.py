"""Generation throughput on 32 NL2SQL prompts: naive sequential fp32 vs the batched backend (vs llama.cpp), and
the batched backend against this machine's GEMM roofline.

Run: .venv/bin/python benchmarks/generation.py [--model ""] [--prompts 32] [--max-new-tokens 64] [--batch-size 32]
     [--warm-calls 4] [--dtype auto]
`--model` is a model setting as ASASQL_CHAT_MODEL takes it: "" the default Qwen2.5-Coder-0.5B-Instruct (Q4_K_M
GGUF), "smollm2" the bundled SmolLM2-135M-Instruct, a .gguf file or a Hugging Face folder. `make bench` installs
llama-cpp-python (the `bench` extra) and runs this script.

All torch figures come from one process on the same prompts; tokens are the generated tokens, up to EOS. After an
untimed first call of each engine, the prompts are split into `--warm-calls` parts, and each part runs in turn:
naive on the part, the batched backend on all prompts, a prefill-only batched call (max_new_tokens=1) on all
prompts, a few large matmuls for the GEMM peak, and llama.cpp on the part; so every figure sees the same minutes
of the machine, whose speed drifts by 10 to 20% over a few minutes.

llama.cpp (llama-cpp-python, when installed) runs in a child process of its own, single-stream with 2 threads
on the same GGUF: importing it beside torch crashed. The child loads the model once and waits for each part.

Roofline: FLOPs per token are 2 x the parameters a token touches, all Linear weights of the decoder plus the LM
head (the input embedding is a lookup, and attention's own products are left out). Decode is each warm call less
the prefill-only call; prefill counts the prompt tokens the backend computes (shared starts once, padding
included, starts taken from its prefix store left out) and the LM head on each prompt's last token, and its
seconds include the call's packing of the Linear weights (which the decode figure cancels out).
"""

import argparse
import contextlib
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from asasql_resources.domain import load_domain
from asasql_resources.models.decode import PrefillPlan, eos_ids, prefix_batches
from asasql_resources.models.local import LocalChatBackend, load_causal_lm
from asasql_resources.models.locate import DEFAULT_NAMES, SMOLLM2, ModelLocation, resolve_model
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling

DOMAIN = Path(__file__).resolve().parents[1] / "project_data"
SYSTEM = "You translate questions into one DuckDB SQL query. Answer with SQL only."
LLAMACPP_THREADS = 2
GEMM_SIZE = 2048  # [N, K] x [K, M] with N = K = M: 17 GFLOP a product
GEMM_REPEATS = 3  # products timed per part; the peak is the fastest of all parts
GOALS = {"naive": 10.0, "llamacpp": 1.5, "peak": 50.0}

# The llama.cpp child: imports nothing of this project (no torch). Arguments: the GGUF, n_ctx, max_tokens and
# threads. It loads the model, answers its first stdin line untimed and prints {"ready": true}; then for each
# stdin line (a JSON list of chat message lists) it answers them one by one and prints {"tokens", "seconds"}.
LLAMACPP_WORKER = """
import json, sys, time
from llama_cpp import Llama
path, n_ctx, max_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
def answer(messages):
    reply = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
    return reply["usage"]["completion_tokens"]
for messages in json.loads(sys.stdin.readline()):
    answer(messages)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    start = time.perf_counter()
    tokens = sum(answer(messages) for messages in json.loads(line))
    print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - start}), flush=True)
"""


def benchmark_prompts(count: int) -> list[ChatPrompt]:
    """Schema, then question, then the SQL cue: built from the demo domain's test questions."""
    domain = load_domain(DOMAIN)
    columns = domain.catalog.group_by("table_name", maintain_order=True).agg("column_name")
    schema = {t: f"{t}({', '.join(c)})" for t, c in columns.iter_rows()}
    questions = domain.test_set["question"].to_list()[:count]
    sqls = domain.test_set["sql"].to_list()[:count]
    prompts = []
    for question, sql in zip(questions, sqls, strict=False):
        tables = [t for t in schema if t in sql]
        context = "\n".join(schema[t] for t in tables)
        prompts.append(ChatPrompt(system=SYSTEM, user=f"Schema:\n{context}\n\nQuestion: {question}\nSQL:"))
    return prompts


def model_name(setting: str, location: ModelLocation) -> str:
    """The model a setting names, for the first printed line."""
    if setting in DEFAULT_NAMES:
        return f"Qwen2.5-Coder-0.5B-Instruct Q4_K_M (--model {setting!r}, the default): {location.identity}"
    if setting == SMOLLM2:
        return f"SmolLM2-135M-Instruct (--model {setting!r}): {location.identity}"
    return f"--model {setting!r}: {location.identity}"


@dataclass
class Total:
    """Tokens and seconds summed over timed calls."""

    tokens: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Tokens per second (0 before anything was timed)."""
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The rate and what it was measured on."""
        return f"{self.rate:7.1f} tok/s  ({self.tokens} tokens in {self.seconds:.1f} s)"


@dataclass(frozen=True)
class ModelFlops:
    """Linear weights a token touches: the decoder's, and the LM head's."""

    decoder: int
    head: int

    @classmethod
    def of(cls, model: nn.Module) -> "ModelFlops":
        """Counted from the loaded model: every nn.Linear weight (a tied LM head counts as the head)."""
        head = model.get_output_embeddings()
        linear = [m for m in model.modules() if isinstance(m, nn.Linear) and m is not head]
        return cls(sum(m.weight.numel() for m in linear), head.weight.numel())

    @property
    def per_token(self) -> int:
        """FLOPs of one decoded token: 2 x (decoder + LM head) weights."""
        return 2 * (self.decoder + self.head)

    def prefill(self, computed_tokens: int, rows: int) -> int:
        """FLOPs of a prefill: the decoder on every computed prompt token, the LM head on each row's last."""
        return 2 * (self.decoder * computed_tokens + self.head * rows)


def gemm_seconds(dtype: torch.dtype, repeats: int) -> list[float]:
    """Seconds of each of `repeats` [N,K]x[K,M] products in dtype, at the current torch thread count."""
    a = torch.randn(GEMM_SIZE, GEMM_SIZE).to(dtype)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE).to(dtype)
    out = torch.empty(GEMM_SIZE, GEMM_SIZE, dtype=dtype)
    torch.matmul(a, b, out=out)  # warm-up: the kernel's first call
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        seconds.append(time.perf_counter() - start)
    return seconds


class LlamaCpp:
    """llama.cpp single-stream in a child process (never imported here), on one GGUF."""

    def __init__(self, gguf: Path, max_new_tokens: int):
        """Start the child; it loads the model, then answers its first line of prompts untimed (`ready`)."""
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-c", LLAMACPP_WORKER, str(gguf), "2048", str(max_new_tokens), str(LLAMACPP_THREADS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def ask(self, prompts: list[ChatPrompt], expect: str = "tokens") -> dict:
        """Send prompts, wait for the child's answer line."""
        try:
            self.process.stdin.write(json.dumps([p.messages() for p in prompts]) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            while line and not line.startswith("{"):  # anything else the library printed
                line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self.log.seek(0)
            tail = self.log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the llama.cpp child exited ({self.process.wait()}): {tail}")
        answer = json.loads(line)
        assert expect in answer, answer
        return answer

    def time(self, prompts: list[ChatPrompt], total: Total) -> None:
        """Answer prompts one by one; add the tokens and the child's own timing to total."""
        answer = self.ask(prompts)
        total.tokens += answer["tokens"]
        total.seconds += answer["seconds"]

    def peak_mib(self) -> float | None:
        """The child's peak resident memory so far (VmHWM, counted from its exec), while it runs."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        kib = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(kib[0]) / 1024 if kib else None

    def close(self) -> None:
        """End the child (its stdin closes) and wait for it."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def llamacpp_engine(location: ModelLocation, max_new_tokens: int, warm_up: ChatPrompt) -> tuple[LlamaCpp | None, str]:
    """The llama.cpp child for the model's GGUF, or None and why not."""
    if location.gguf_file is None:
        return None, "skipped: the model is a Hugging Face folder, not a GGUF"
    if importlib.util.find_spec("llama_cpp") is None:
        return None, "not installed (`make bench` installs llama-cpp-python, the `bench` extra)"
    engine = LlamaCpp(location.folder / location.gguf_file, max_new_tokens)
    try:
        engine.ask([warm_up], expect="ready")
    except RuntimeError as error:
        engine.close()
        return None, f"failed: {error}"
    return engine, ""


def naive_engine(location: ModelLocation, max_new_tokens: int) -> Callable[[ChatPrompt], int]:
    """Plain `model.generate` on one prompt, fp32, no batching: the new tokens it made, stop tokens not counted."""
    loaded = load_causal_lm(location, "float32")
    tokenizer, model = loaded.tokenizer, loaded.model
    stop = eos_ids(model, tokenizer.eos_token_id).tolist()

    def new_tokens(prompt: ChatPrompt) -> int:
        ids = tokenizer.apply_chat_template(prompt.messages(), add_generation_prompt=True, return_tensors="pt")
        ids = ids["input_ids"] if not isinstance(ids, torch.Tensor) else ids
        with torch.no_grad():
            out = model.generate(
                ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        return sum(token not in stop for token in out[0, ids.shape[1] :].tolist())

    return new_tokens


def prefill_tokens(backend: LocalChatBackend, prompts: list[ChatPrompt]) -> tuple[int, int]:
    """Prompt tokens of a batched call on prompts, and those its prefill computes (`PrefillPlan`, per batch)."""
    tokenizer = backend.loaded().tokenizer
    encoded = [tokenizer(backend.render(p), add_special_tokens=False)["input_ids"] for p in prompts]
    computed = 0
    for indices in prefix_batches(encoded, backend.batch_size):
        batch = [encoded[i] for i in indices]
        computed += PrefillPlan.of(batch).tokens(batch)
    return sum(len(ids) for ids in encoded), computed


@dataclass
class Results:
    """Everything the interleaved loop measured."""

    naive: Total
    cold: Total
    warm: Total
    prefill: Total  # the prefill-only calls: the first tokens they made, and their seconds
    prefill_computed: int  # prompt tokens those calls computed (starts from the prefix store left out)
    gemm_best: float  # seconds of the fastest GEMM
    llamacpp: Total | None
    llamacpp_note: str
    llamacpp_peak_mib: float | None
    dtype: torch.dtype
    flops: ModelFlops


def interleaved(
    location: ModelLocation, prompts: list[ChatPrompt], max_new_tokens: int, batch_size: int, dtype: str, parts: int
) -> Results:
    """Every engine's untimed first call, then `parts` rounds of naive part, batched warm, prefill-only, GEMM, and
    llama.cpp part (see the module's docstring)."""
    naive = naive_engine(location, max_new_tokens)
    naive(prompts[0])
    backend = LocalChatBackend(location, dtype=dtype, batch_size=batch_size)
    loaded = backend.loaded()
    llamacpp, note = llamacpp_engine(location, max_new_tokens, prompts[0])
    sampling, first_token = Sampling(max_new_tokens=max_new_tokens), Sampling(max_new_tokens=1)
    totals = {"naive": Total(), "cold": Total(), "warm": Total(), "prefill": Total(), "llamacpp": Total()}
    _, computed_per_call = prefill_tokens(backend, prompts)
    computed, gemm, child_peak = 0, [], None

    def batched(total: Total, settings: Sampling) -> None:
        before, start = backend.stats.new_tokens, time.perf_counter()
        backend.generate(prompts, settings)
        total.tokens += backend.stats.new_tokens - before
        total.seconds += time.perf_counter() - start

    try:
        batched(totals["cold"], sampling)
        gemm_seconds(loaded.dtype, 1)
        for part in range(parts):
            start = time.perf_counter()
            totals["naive"].tokens += sum(naive(prompt) for prompt in prompts[part::parts])
            totals["naive"].seconds += time.perf_counter() - start
            batched(totals["warm"], sampling)
            reused = loaded.prefixes.reused_tokens
            batched(totals["prefill"], first_token)
            computed += computed_per_call - (loaded.prefixes.reused_tokens - reused)
            gemm += gemm_seconds(loaded.dtype, GEMM_REPEATS)
            if llamacpp is not None:
                try:
                    llamacpp.time(prompts[part::parts], totals["llamacpp"])
                except RuntimeError as error:
                    note = f"failed in part {part + 1}: {error}"
                    llamacpp.close()
                    llamacpp = None
    finally:
        if llamacpp is not None:
            child_peak = llamacpp.peak_mib()
            llamacpp.close()
    return Results(
        totals["naive"],
        totals["cold"],
        totals["warm"],
        totals["prefill"],
        computed,
        min(gemm),
        totals["llamacpp"] if llamacpp is not None else None,
        note,
        child_peak,
        loaded.dtype,
        ModelFlops.of(loaded.model),
    )


def roofline(results: Results, prompts: int, parts: int) -> tuple[list[str], dict[str, float | None]]:
    """The roofline lines: GEMM peak, batched decode and prefill GFLOP/s and their share of the peak."""
    flops, dtype = results.flops, str(results.dtype).removeprefix("torch.")
    peak = 2 * GEMM_SIZE**3 / results.gemm_best / 1e9
    decode = Total(results.warm.tokens - results.prefill.tokens, results.warm.seconds - results.prefill.seconds)
    decode_gflops = decode.rate * flops.per_token / 1e9 if decode.tokens > 0 and decode.seconds > 0 else None
    prefill_gflops = flops.prefill(results.prefill_computed, parts * prompts) / results.prefill.seconds / 1e9
    goal = GOALS["peak"]
    shown = f"{decode_gflops:.1f} GFLOP/s = {100 * decode_gflops / peak:.1f}% of peak" if decode_gflops else "n/a"
    lines = [
        f"roofline: GEMM peak {peak:.1f} GFLOP/s ({dtype}, {GEMM_SIZE}^3, {torch.get_num_threads()} threads); "
        f"batched decode {shown}; prefill {prefill_gflops:.1f} GFLOP/s = {100 * prefill_gflops / peak:.1f}% "
        f"of peak  (goal >= {goal:.0f}% of peak)",
        f"roofline detail: {flops.per_token / 1e9:.3f} GFLOP/token ({flops.decoder / 1e6:.1f}M decoder Linear + "
        f"{flops.head / 1e6:.1f}M LM head weights), so the peak is {1e9 * peak / flops.per_token:.1f} tok/s; decode "
        f"after prefill {decode.rate:.1f} tok/s ({decode.tokens} tokens in {decode.seconds:.1f} s); prefill-only "
        f"calls {results.prefill.seconds / parts:.2f} s each for {results.prefill_computed // parts} computed prompt "
        f"tokens",
    ]
    figures = {
        "gemm_peak_gflop_s": peak,
        "decode_gflop_s": decode_gflops,
        "decode_peak_fraction": decode_gflops / peak if decode_gflops else None,
        "prefill_gflop_s": prefill_gflops,
        "prefill_peak_fraction": prefill_gflops / peak,
    }
    return lines, figures


def main() -> None:
    """Print the model, each engine's tokens/s, the ratios, the roofline, and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help='a model setting as ASASQL_CHAT_MODEL: "" (default), smollm2, …')
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument(
        "--warm-calls", type=int, default=4, help="batched calls timed after the first, one after each naive part"
    )
    args = parser.parse_args()
    args.warm_calls = max(1, min(args.warm_calls, args.prompts))  # every part holds a prompt
    location = resolve_model(args.model, "--model")
    print(f"model: {model_name(args.model, location)}", flush=True)
    prompts = benchmark_prompts(args.prompts)
    print(f"{len(prompts)} prompts, max_new_tokens={args.max_new_tokens}, torch threads={torch.get_num_threads()}")
    results = interleaved(location, prompts, args.max_new_tokens, args.batch_size, args.dtype, args.warm_calls)
    naive, cold, warm, dtype = results.naive, results.cold, results.warm, results.dtype
    print(f"naive sequential fp32:  {naive.line()}")
    print(f"batched (batch {args.batch_size}, {dtype}), cold: {cold.line()}")
    print(f"batched (batch {args.batch_size}, {dtype}), warm: {warm.line()}")
    print(
        f"ratio batched/naive:    {warm.rate / naive.rate:7.1f}x warm, {cold.rate / naive.rate:.1f}x cold"
        f"  (goal >= {GOALS['naive']:.0f}x warm)"
    )
    llamacpp = results.llamacpp
    if llamacpp is None:
        print(f"llama.cpp single-stream: {results.llamacpp_note}")
    else:
        print(f"llama.cpp single-stream: {llamacpp.line()}, {LLAMACPP_THREADS} threads")
        print(f"ratio batched/llama.cpp: {warm.rate / llamacpp.rate:6.2f}x  (goal >= {GOALS['llamacpp']}x)")
    lines, figures = roofline(results, len(prompts), args.warm_calls)
    print("\n".join(lines))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS:               {peak_mib:7.0f} MiB")
    if results.llamacpp_peak_mib is not None:
        print(f"peak RSS, llama.cpp child: {results.llamacpp_peak_mib:4.0f} MiB")
    print(
        json.dumps(
            {
                "model": location.identity,
                "naive_tok_s": naive.rate,
                "batched_cold_tok_s": cold.rate,
                "batched_tok_s": warm.rate,
                "llamacpp_tok_s": llamacpp and llamacpp.rate,
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
