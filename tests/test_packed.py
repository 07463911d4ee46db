"""Packed Linear layers compute what the plain ones do, are put back after the block, and follow weight changes."""

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from asasql_resources.models import packed as packed_module
from asasql_resources.models.packed import PackedLinear, can_pack, packed_linears


def test_a_packed_model_gives_the_plain_logits_and_is_restored(tiny_model: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    ids = torch.randint(0, model.config.vocab_size, (3, 9))
    linears = {name: module for name, module in model.named_modules() if type(module) is nn.Linear}
    with torch.inference_mode():
        plain = model(input_ids=ids).logits
        with packed_linears(model):
            assert all(isinstance(model.get_submodule(name), PackedLinear) for name in linears)
            packed = model(input_ids=ids).logits
    assert torch.allclose(plain, packed, atol=1e-4)
    assert all(model.get_submodule(name) is module for name, module in linears.items())


def test_half_precision_models_are_left_as_they_are() -> None:
    model = nn.Sequential(nn.Linear(4, 4)).to(torch.float16)
    assert not can_pack(model)
    with packed_linears(model):
        assert type(model[0]) is nn.Linear


def test_a_model_over_the_size_limit_is_left_as_it_is(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    assert can_pack(model)
    monkeypatch.setattr(packed_module, "PACK_MAX_PARAMETERS", model.num_parameters() - 1)
    assert not can_pack(model)
