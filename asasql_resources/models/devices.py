"""Torch device settings, checked against what this machine's torch can reach before a model is moved there."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_TYPES = ("cpu", "cuda", "mps")


class DeviceError(ValueError):
    """A device setting is malformed, or names a device this machine's torch cannot use."""


def resolve_device(value: str, setting: str) -> torch.device:
    """The torch device a setting names: cpu, cuda, cuda:N or mps; a DeviceError naming the setting otherwise.

    torch is imported here, not with the module: the embedder's settings are checked without it.
    """
    import torch

    try:
        device = torch.device(value.strip())
    except (RuntimeError, ValueError):
        raise DeviceError(
            f"{setting}={value!r}: not a torch device (use {', '.join(DEVICE_TYPES)} or cuda:N)"
        ) from None
    if device.type not in DEVICE_TYPES:
        raise DeviceError(
            f"{setting}={value!r}: unsupported device type {device.type!r} (use {', '.join(DEVICE_TYPES)})"
        )
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = "a CUDA build" if torch.backends.cuda.is_built() else "a CPU-only build"
            raise DeviceError(f"{setting}={value!r}: torch {torch.__version__} ({built}) sees no CUDA device here")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{setting}={value!r}: this machine has {count} CUDA device(s), numbered from 0")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{setting}={value!r}: MPS is not available on this machine")
    return device
