"""Linear layers computed with oneDNN-packed weights while a CPU model decodes (1.5 to 1.8x at 8 to 32 rows)."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

PACKED_DTYPES = (torch.float32, torch.bfloat16)
BATCH_HINT = 32  # the rows a decode step usually has: oneDNN picks its weight layout for it
# Larger models are left as they are: the packed copy would double their weights' memory for every decode.
PACK_MAX_PARAMETERS = 2_000_000_000


class PackedLinear(nn.Module):
    """A Linear's forward with its weight in oneDNN's blocked layout (the ops torch's Inductor uses on the CPU)."""

    def __init__(self, linear: nn.Linear):
        """Pack a copy of the weight; the bias is used as it is, and `weight` stays for code that inspects it (peft)."""
        super().__init__()
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), BATCH_HINT)
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x @ weight.T + bias."""
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [None], "")


def can_pack(model: nn.Module) -> bool:
    """Whether the Linear layers can be packed: on the CPU, fp32 or bf16, at most PACK_MAX_PARAMETERS, oneDNN in."""
    parameter = next(model.parameters(), None)
    return (
        parameter is not None
        and parameter.device.type == "cpu"
        and parameter.dtype in PACKED_DTYPES
        and sum(p.numel() for p in model.parameters()) <= PACK_MAX_PARAMETERS
        and torch.backends.mkldnn.is_available()
    )


class LinearPacks:
    """Packed copies of one model's plain Linear layers, made on first use and kept for its later decodes.

    For a model whose weights do not change while it is kept (a loaded model that is never trained): the copies
    do not follow the weights. Kept copies hold the size of those weights again and save packing them at every
    decode (benchmarks/packed_linear.py).
    """

    def __init__(self) -> None:
        """No copies yet; they are made for the first model that `swaps` is asked about."""
        self._model: nn.Module | None = None
        self._swaps: list[tuple[nn.Module, str, nn.Linear, PackedLinear]] = []

    def swaps(self, model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear, PackedLinear]]:
        """(parent, name, plain layer, packed layer) for each of the model's plain fp32 or bf16 Linear layers."""
        if self._model is not model:
            self._model = model
            self._swaps = [
                (parent, name, child, PackedLinear(child))
                for parent in model.modules()
                for name, child in parent.named_children()
                if type(child) is nn.Linear and child.weight.dtype in PACKED_DTYPES
            ]
        return self._swaps


@contextmanager
def packed_linears(model: nn.Module, packs: LinearPacks | None = None) -> Iterator[None]:
    """Within the block the model's plain Linear layers run packed (no-op off the CPU); for inference only.

    The packed copies come from `packs` (made there on first use, and kept); without it they are made on entry
    and freed on exit.
    """
    if not can_pack(model):
        yield
        return
    swaps = (packs if packs is not None else LinearPacks()).swaps(model)
    for parent, name, _, packed in swaps:
        setattr(parent, name, packed)
    try:
        yield
    finally:
        for parent, name, child, _ in swaps:
            setattr(parent, name, child)
