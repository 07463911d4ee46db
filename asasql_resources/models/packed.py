"""Linear layers computed with oneDNN-packed weights while a CPU model generates (about 2x faster at batch 8 to 32)."""

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

PACKED_DTYPES = (torch.float32, torch.bfloat16)
BATCH_HINT = 32  # the rows a decode step usually has: oneDNN picks its weight layout for it
# Packed weights per Linear, with the weight's version when packed: reused until the weight changes in place.
_PACKED: "weakref.WeakKeyDictionary[nn.Linear, tuple[int, torch.Tensor]]" = weakref.WeakKeyDictionary()


class PackedLinear(nn.Module):
    """A Linear's forward with its weight in oneDNN's blocked layout (the ops torch's Inductor uses on the CPU)."""

    def __init__(self, linear: nn.Linear):
        """Pack the weight once per weight version; the bias is used as it is."""
        super().__init__()
        version, packed = _PACKED.get(linear, (-1, None))
        if packed is None or version != linear.weight._version:
            packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), BATCH_HINT)
            _PACKED[linear] = (linear.weight._version, packed)
        self.packed, self.bias = packed, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x @ weight.T + bias."""
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [None], "")


def can_pack(model: nn.Module) -> bool:
    """Whether the model's Linear layers can be packed: parameters on the CPU in fp32 or bf16, oneDNN built in."""
    parameter = next(model.parameters(), None)
    return (
        parameter is not None
        and parameter.device.type == "cpu"
        and parameter.dtype in PACKED_DTYPES
        and torch.backends.mkldnn.is_available()
    )


@contextmanager
def packed_linears(model: nn.Module) -> Iterator[None]:
    """Within the block the model's plain Linear layers run packed (no-op off the CPU); for inference only."""
    if not can_pack(model):
        yield
        return
    swapped = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear and child.weight.dtype in PACKED_DTYPES
    ]
    for parent, name, child in swapped:
        setattr(parent, name, PackedLinear(child))
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
