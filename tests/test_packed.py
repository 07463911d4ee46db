"""Packed Linear layers compute what the plain ones do, are put back after the block, and are kept when asked."""

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from asasql_resources.models import packed as packed_module
from asasql_resources.models.packed import LinearPacks, PackedLinear, can_pack, packed_linears


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


def _packed_layers(model: nn.Module, packs: LinearPacks | None) -> list[nn.Module]:
    """The model's layers inside one packed block, then checks that its plain Linear layers are back after it."""
    plain = [module for module in model.modules() if type(module) is nn.Linear]
    with packed_linears(model, packs):
        inside = [module for module in model.modules() if isinstance(module, PackedLinear)]
    assert len(inside) == len(plain) and [m for m in model.modules() if type(m) is nn.Linear] == plain
    return inside


def test_kept_packs_are_made_once_per_model_and_unkept_ones_every_time(tiny_model: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    other = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    packs = LinearPacks()
    first, again = _packed_layers(model, packs), _packed_layers(model, packs)
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert not {id(m) for m in _packed_layers(model, None)} & {id(m) for m in first}
    for_other = _packed_layers(other, packs)  # a store serves the model it is given: another one is packed anew
    plain_other = [m for m in other.modules() if type(m) is nn.Linear]
    assert all(packed.weight is plain.weight for packed, plain in zip(for_other, plain_other, strict=True))
