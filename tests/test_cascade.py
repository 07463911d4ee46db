"""Cascade attention (a start shared by every row, read once) gives what SDPA over each row's full keys gives."""

from types import SimpleNamespace

import pytest
import torch
from torch.nn.functional import scaled_dot_product_attention

from asasql_resources.models.cascade import cascade_attention_forward


@pytest.mark.parametrize("positions", [1, 3])
def test_cascade_attention_equals_sdpa_over_the_shared_start_then_the_own_keys(positions: int) -> None:
    generator = torch.Generator().manual_seed(0)
    batch, heads, kv_heads, size, shared, own = 4, 6, 2, 8, 5, 7

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    query = random(batch, heads, positions, size)
    keys, values = random(batch, kv_heads, own, size), random(batch, kv_heads, own, size)
    shared_keys, shared_values = random(kv_heads, shared, size), random(kv_heads, shared, size)
    mask = torch.rand(batch, 1, positions, own, generator=generator) > 0.4
    mask[..., -1] = True
    layer = SimpleNamespace(layer_idx=1)
    start = [(random(kv_heads, shared, size), random(kv_heads, shared, size)), (shared_keys, shared_values)]

    out, _ = cascade_attention_forward(layer, query, keys, values, mask, 0.3, start)

    full_keys = torch.cat([shared_keys.expand(batch, -1, -1, -1), keys], dim=2)
    full_values = torch.cat([shared_values.expand(batch, -1, -1, -1), values], dim=2)
    full_mask = torch.cat([torch.ones(batch, 1, positions, shared, dtype=torch.bool), mask], dim=3)
    expected = scaled_dot_product_attention(
        query, full_keys, full_values, attn_mask=full_mask, scale=0.3, enable_gqa=True
    ).transpose(1, 2)
    assert out.shape == (batch, positions, heads, size)
    torch.testing.assert_close(out, expected)
