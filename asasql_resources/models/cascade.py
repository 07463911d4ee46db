"""Cascade attention: keys and values that every row of a batch shares (its common prompt start) read once per step."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

CASCADE = "asasql_cascade"  # the attention implementation's registered name
# Keys and values of the shared start per layer, each (key/value heads, positions, head size).
SharedStart = Sequence[tuple[torch.Tensor, torch.Tensor]]


def cascade_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor,
    scaling: float,
    shared_start: SharedStart,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """Softmax attention over the shared start (all of it) and each row's own keys (under a boolean mask).

    The shared keys are one copy for all rows: their scores are one matrix product for the whole batch, where
    a per-row copy would be read once per row. The two parts' scores share one softmax. Returns the output
    as SDPA does: (batch, positions, heads, head size).
    """
    shared_keys, shared_values = shared_start[module.layer_idx]
    batch, heads, length, size = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads * length  # query rows per key/value head: its query heads by positions
    grouped = query.reshape(batch, kv_heads, group, size)
    own = torch.matmul(grouped, key.transpose(-1, -2)).mul_(scaling)
    own.masked_fill_(~attention_mask.repeat(1, 1, heads // kv_heads, 1), float("-inf"))
    flat = grouped.transpose(0, 1).reshape(kv_heads, batch * group, size)  # every row's queries, per head
    shared = torch.bmm(flat, shared_keys.transpose(1, 2)).mul_(scaling).view(kv_heads, batch, group, -1)
    top = torch.maximum(own.amax(-1, keepdim=True), shared.amax(-1, keepdim=True).transpose(0, 1))
    own = own.sub_(top).exp_()
    shared = shared.sub_(top.transpose(0, 1)).exp_()
    total = own.sum(-1, keepdim=True) + shared.sum(-1, keepdim=True).transpose(0, 1)
    from_shared = torch.bmm(shared.view(kv_heads, batch * group, -1), shared_values)
    out = torch.matmul(own, value).add_(from_shared.view(kv_heads, batch, group, size).transpose(0, 1))
    out /= total
    return out.view(batch, heads, length, size).transpose(1, 2).contiguous(), None


AttentionInterface.register(CASCADE, cascade_attention_forward)
ALL_MASK_ATTENTION_FUNCTIONS.register(CASCADE, sdpa_mask)


@contextmanager
def cascade_attention(model: PreTrainedModel) -> Iterator[None]:
    """Within the block the model attends with `cascade_attention_forward`; each forward passes `shared_start`."""
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = CASCADE
    try:
        yield
    finally:
        config._attn_implementation = before
