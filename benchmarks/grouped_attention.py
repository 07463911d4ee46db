"""Attention of one decode step with grouped key/value heads: copied per query head (repeat_kv) vs read in place.

Run: .venv/bin/python benchmarks/grouped_attention.py [--rows 32] [--iterations 30]

SmolLM2-135M's shape (9 query heads, 3 key/value heads of 64) with a boolean mask, as `decode` passes one, at
200 and 1,000 cached tokens. "copied" is what transformers does when a mask is given (`repeat_kv`, then SDPA);
"in place" is SDPA with `enable_gqa`, what `decode.grouped_attention` switches on for the CPU. Prints the
milliseconds of one layer's attention each way, their ratio, and whether the outputs agree.
"""

import argparse

import torch
import torch.nn.functional as F
from packed_linear import seconds_per_call

HEADS, KV_HEADS, HEAD_DIM = 9, 3, 64


def step_arguments(doc: str) -> argparse.Namespace:
    """--rows and --iterations of a decode-step attention benchmark, once the shape it times is printed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    print(
        f"{args.rows} rows, {HEADS} query heads over {KV_HEADS} key/value heads of {HEAD_DIM}, torch threads={torch.get_num_threads()}"
    )
    return args


def main() -> None:
    """Time one layer's decode-step attention both ways at two cache lengths."""
    args = step_arguments(__doc__)
    rows = args.rows
    for cached in (200, 1000):
        query = torch.randn(rows, HEADS, 1, HEAD_DIM)
        keys, values = torch.randn(rows, KV_HEADS, cached, HEAD_DIM), torch.randn(rows, KV_HEADS, cached, HEAD_DIM)
        mask = torch.ones(rows, 1, 1, cached, dtype=torch.bool)
        mask[:, :, :, : cached // 10] = False  # padding columns, as rows of different lengths have

        def repeated(states: torch.Tensor) -> torch.Tensor:
            """What repeat_kv does: each key/value head copied for its query heads."""
            grouped = states[:, :, None].expand(rows, KV_HEADS, HEADS // KV_HEADS, cached, HEAD_DIM)
            return grouped.reshape(rows, HEADS, cached, HEAD_DIM)

        def copied() -> torch.Tensor:
            return F.scaled_dot_product_attention(query, repeated(keys), repeated(values), attn_mask=mask)

        def in_place() -> torch.Tensor:
            return F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, enable_gqa=True)

        slow, fast = (1000 * seconds_per_call(run, args.iterations) for run in (copied, in_place))
        agree = torch.allclose(copied(), in_place(), atol=1e-5)
        print(
            f"{cached:>5} cached tokens: copied {slow:6.2f} ms, in place {fast:6.2f} ms, {slow / fast:5.1f}x, outputs agree: {agree}"
        )


if __name__ == "__main__":
    main()
