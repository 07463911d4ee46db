"""Device settings: what this machine's torch can reach is accepted, anything else names the setting and value."""

from pathlib import Path

import pytest
import torch

from asasql_resources.models.chat import ChatModel
from asasql_resources.models.devices import DeviceError, resolve_device
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.base import Nl2SqlBase


def test_cpu_is_accepted_in_any_spelling() -> None:
    assert resolve_device("cpu", "ASASQL_X_DEVICE") == torch.device("cpu")
    assert resolve_device(" cpu ", "ASASQL_X_DEVICE") == torch.device("cpu")


@pytest.mark.parametrize("value", ["gpu", "", "cuda:x", "cuda:-1"])
def test_malformed_devices_name_the_setting(value: str) -> None:
    with pytest.raises(DeviceError, match=rf"ASASQL_X_DEVICE={value!r}: not a torch device"):
        resolve_device(value, "ASASQL_X_DEVICE")


@pytest.mark.parametrize("value", ["meta", "xpu"])
def test_unsupported_device_types_are_refused(value: str) -> None:
    with pytest.raises(DeviceError, match=rf"ASASQL_X_DEVICE={value!r}: unsupported device type"):
        resolve_device(value, "ASASQL_X_DEVICE")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
@pytest.mark.parametrize("value", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_says_so(value: str) -> None:
    with pytest.raises(DeviceError, match=rf"ASASQL_X_DEVICE={value!r}: torch .* sees no CUDA device here"):
        resolve_device(value, "ASASQL_X_DEVICE")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_devices_past_the_last_are_refused() -> None:
    assert resolve_device("cuda:0", "ASASQL_X_DEVICE") == torch.device("cuda", 0)
    count = torch.cuda.device_count()
    with pytest.raises(DeviceError, match=rf"has {count} CUDA device"):
        resolve_device(f"cuda:{count}", "ASASQL_X_DEVICE")


def test_chat_and_embedder_check_their_device_settings(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"ASASQL_CHAT_DEVICE='gpu': not a torch device"):
        ChatModel(device="gpu", home=str(tmp_path)).client()
    with pytest.raises(DeviceError, match=r"ASASQL_EMBED_DEVICE='cuda:x': not a torch device"):
        Embedder(device="cuda:x").encode(["a question"])


def test_nl2sql_base_loads_on_its_device_and_checks_the_setting(tiny_model: Path) -> None:
    model, _ = Nl2SqlBase(model=str(tiny_model), device="cpu").load()
    assert {p.device for p in model.parameters()} == {torch.device("cpu")}
    with pytest.raises(DeviceError, match=r"ASASQL_NL2SQL_DEVICE='gpu': not a torch device"):
        Nl2SqlBase(model=str(tiny_model), device="gpu").load()
