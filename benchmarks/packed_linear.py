"""Matrix throughput of SmolLM2-135M's Linear shapes at decode batch sizes: plain fp32 vs oneDNN-packed weights.

Run: .venv/bin/python benchmarks/packed_linear.py [--rows 1 8 16 32] [--repeats 200] [--step]
One process; each shape is timed with `torch.nn.functional.linear` and with the `PackedLinear` that decode
steps use, on the same random weights and inputs. Prints GFLOPS for each, their ratio, and the ratio over one decode step's
Linear layers. With `--step`, it instead times one decode step's packed Linear layers in the order the model runs
them, each of the 30 layers with its own weights (so they come from memory, as in a real step), per row count.
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
LAYERS = 30
LAYER_SHAPES = [
    (576, 576),
    (576, 192),
    (576, 192),
    (576, 576),
    (576, 1536),
    (576, 1536),
    (1536, 576),
]  # q k v o gate up down


def seconds_per_call(call: Callable[[], torch.Tensor], repeats: int) -> float:
    """Mean seconds of one call, after a few untimed ones."""
    for _ in range(3):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def step_seconds(rows: list[int], repeats: int) -> dict[int, float]:
    """Seconds of one decode step's packed Linear layers at each row count, the 30 layers' own weights in turn."""
    layers = [[PackedLinear(nn.Linear(i, o, bias=False)) for i, o in LAYER_SHAPES] for _ in range(LAYERS)]
    head = PackedLinear(nn.Linear(576, 49152, bias=False))
    seconds = {}
    for count in rows:
        hidden, inner = torch.randn(count, 576), torch.randn(count, 1536)

        def step() -> None:
            for layer in layers:
                for packed in layer:
                    packed(inner if packed.weight.shape[1] == 1536 else hidden)
            head(hidden)

        seconds[count] = seconds_per_call(step, repeats)
    return seconds


def main() -> None:
    """Print plain and packed GFLOPS per shape and row count, and the ratio over one decode step's Linear work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--step", action="store_true", help="time whole decode steps' Linear layers instead")
    args = parser.parse_args()
    print(f"torch threads={torch.get_num_threads()}")
    if args.step:
        with torch.inference_mode():
            seconds = step_seconds(args.rows, max(5, args.repeats // 20))
        for rows, step in seconds.items():
            print(f"rows {rows:>3}  one decode step's packed Linear layers in model order: {step * 1000:6.1f} ms")
        return
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
