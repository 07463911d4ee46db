"""One decode step's attention with a start every row shares: SDPA over per-row copies vs cascade attention.

Run: .venv/bin/python benchmarks/cascade_attention.py [--rows 32] [--iterations 30]

SmolLM2-135M's shape (9 query heads, 3 key/value heads of 64). "per row" is what `decode` does below
MIN_CASCADE_START: every row holds the shared start and SDPA (grouped heads in place) reads it once per row.
"cascade" is `cascade_attention_forward` over one copy of the start and each row's own keys. Prints the
milliseconds of one layer's attention each way at several shared and own lengths, their ratio, and whether the
outputs agree.
"""

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from grouped_attention import HEAD_DIM, HEADS, KV_HEADS, step_arguments
from packed_linear import seconds_per_call

from asasql_resources.models.cascade import cascade_attention_forward


def main() -> None:
    """Time one layer's decode-step attention both ways per (own, shared) length."""
    args = step_arguments(__doc__)
    rows = args.rows
    layer = SimpleNamespace(layer_idx=0)
    for own in (150, 700):
        for shared in (32, 64, 128, 461):
            keys, values = (torch.randn(rows, KV_HEADS, shared + own, HEAD_DIM) for _ in range(2))
            keys[:, :, :shared], values[:, :, :shared] = keys[:1, :, :shared], values[:1, :, :shared]
            start = [(keys[0, :, :shared].clone(), values[0, :, :shared].clone())]
            query = torch.randn(rows, HEADS, 1, HEAD_DIM)
            mask = torch.ones(rows, 1, 1, shared + own, dtype=torch.bool)

            def per_row() -> torch.Tensor:
                out = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, enable_gqa=True)
                return out.transpose(1, 2)

            def cascade() -> torch.Tensor:
                own_keys, own_values = keys[:, :, shared:], values[:, :, shared:]
                return cascade_attention_forward(
                    layer, query, own_keys, own_values, mask[..., shared:], HEAD_DIM**-0.5, start
                )[0]

            slow, fast = (1000 * seconds_per_call(run, args.iterations) for run in (per_row, cascade))
            agree = torch.allclose(per_row(), cascade(), atol=1e-5)
            print(
                f"own {own:>4}, shared {shared:>4}: per row {slow:6.2f} ms, cascade {fast:6.2f} ms, {slow / fast:4.2f}x, outputs agree: {agree}"
            )


if __name__ == "__main__":
    main()
