"""GPU lower bounds for docs/scaling.md: a Qwen2.5-7B-shaped generator and a MiniLM-shaped scorer, random weights.

Run (on a machine with a CUDA GPU, torch and transformers; no model hub needed):
    python benchmarks/gpu_throughput.py [--batches 32 128 256 512]

No weights are downloaded: each model is built from its published shape with random weights, which costs
the same arithmetic as the trained model. What it measures:
1. Generation: plain transformers `generate` (greedy, static batches, no paged attention, no continuous
   batching) of a Qwen2.5-7B-Instruct-shaped model in bf16, with prompts of 512 tokens and exactly 96 new
   tokens (the demo's Stage 1 made 8,044 tokens for 84 candidates: about 96 per candidate). A serving
   engine such as vLLM batches continuously and should do better, so this is a floor, not a vLLM figure.
2. Scoring: forward passes of an all-MiniLM-L6-v2-shaped encoder (6 layers, 384 wide) with a one-logit
   head, on pairs of 128 tokens, as `reward_scores` (and the embedding in `clusters`) run it.
"""

import argparse
import time

import torch
from transformers import BertConfig, BertForSequenceClassification, Qwen2Config, Qwen2ForCausalLM

PROMPT_TOKENS = 512
NEW_TOKENS = 96
PAIR_TOKENS = 128

# Qwen2.5-7B-Instruct's published config.json.
QWEN25_7B = dict(
    vocab_size=152064,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)
# all-MiniLM-L6-v2's config.json.
MINILM_L6 = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)


def _timed(fn) -> float:
    """Seconds for fn(), with the GPU synchronized on both sides."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def generation(batches: list[int]) -> None:
    """Output tokens/s of greedy generation at several static batch sizes."""
    config = Qwen2Config(**QWEN25_7B)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM._from_config(config, dtype=torch.bfloat16).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(
        f"generation: Qwen2.5-7B-shaped ({params:.2f} B parameters, bf16, random weights), "
        f"{PROMPT_TOKENS} prompt + {NEW_TOKENS} new tokens, transformers generate"
    )
    generator = torch.Generator(device="cuda").manual_seed(0)

    def run(batch: int) -> None:
        ids = torch.randint(10, 150000, (batch, PROMPT_TOKENS), device="cuda", generator=generator)
        with torch.inference_mode():
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=0,
            )

    run(4)  # warm-up
    for batch in batches:
        seconds = _timed(lambda: run(batch))
        print(
            f"  batch {batch:4d}: {seconds:7.2f} s, {batch * NEW_TOKENS / seconds:8.0f} output tokens/s, "
            f"{batch * (PROMPT_TOKENS + NEW_TOKENS) / seconds:8.0f} total tokens/s, "
            f"peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
        )
    model.to("meta")  # free the GPU memory before the next benchmark (the closure still holds the model)
    torch.cuda.empty_cache()


def scoring(batch: int, repeats: int) -> None:
    """Pairs/s of a MiniLM-shaped one-logit classifier, fp32 and bf16."""
    config = BertConfig(**MINILM_L6, num_labels=1)
    with torch.device("cuda"):
        model = BertForSequenceClassification(config).eval()
    ids = torch.randint(1000, 30000, (batch, PAIR_TOKENS), device="cuda")
    print(f"scoring: MiniLM-L6-shaped encoder + 1 logit, batches of {batch} pairs of {PAIR_TOKENS} tokens")
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):

        def run() -> None:
            with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                for _ in range(repeats):
                    model(input_ids=ids, attention_mask=torch.ones_like(ids))

        run()  # warm-up
        seconds = _timed(run)
        print(f"  {name}: {batch * repeats / seconds:10.0f} pairs/s")


def main() -> None:
    """Both measurements, on the first GPU."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 256, 512], help="generation batch sizes")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: this benchmark measures GPU throughput")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    scoring(batch=256, repeats=20)
    generation(args.batches)


if __name__ == "__main__":
    main()
