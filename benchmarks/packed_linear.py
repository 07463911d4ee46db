"""Matrix throughput of SmolLM2-135M's Linear shapes at decode batch sizes: plain fp32 vs oneDNN-packed weights.

Run: .venv/bin/python benchmarks/packed_linear.py [--rows 1 8 16 32] [--repeats 200]
One process; each shape is timed with `torch.nn.functional.linear` and with the `PackedLinear` that decode
steps use, on the same random weights and inputs. Prints GFLOPS for each, their ratio, and the ratio over one decode step's
Linear layers.
"""

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from asasql_resources.models.packed import PackedLinear

# (in, out) of SmolLM2-135M's projections, with how many a decode step computes: 30 layers of q and o, k and v,
# gate and up, and down, then the vocabulary head once.
SHAPES = {(576, 576): 60, (576, 192): 60, (576, 1536): 60, (1536, 576): 30, (576, 49152): 1}


def seconds_per_call(call: Callable[[], torch.Tensor], repeats: int) -> float:
    """Mean seconds of one call, after a few untimed ones."""
    for _ in range(3):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    """Print plain and packed GFLOPS per shape and row count, and the ratio over one decode step's Linear work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(f"torch threads={torch.get_num_threads()}")
    with torch.inference_mode():
        for rows in args.rows:
            plain_total = packed_total = 0.0
            for (inputs, outputs), per_step in SHAPES.items():
                linear = nn.Linear(inputs, outputs, bias=False)
                packed = PackedLinear(linear)
                x = torch.randn(rows, inputs)
                repeats = max(10, args.repeats * 576 // outputs)
                plain = seconds_per_call(lambda: nn.functional.linear(x, linear.weight), repeats)
                fast = seconds_per_call(lambda: packed(x), repeats)
                flops = 2 * rows * inputs * outputs
                plain_total += plain * per_step
                packed_total += fast * per_step
                print(
                    f"rows {rows:>3}  {inputs:>5}x{outputs:<6} plain {flops / plain / 1e9:6.1f} GFLOPS  "
                    f"packed {flops / fast / 1e9:6.1f} GFLOPS  ({plain / fast:.2f}x)"
                )
            print(f"rows {rows:>3}  one decode step's Linear layers: {plain_total / packed_total:.2f}x faster packed")


if __name__ == "__main__":
    main()
