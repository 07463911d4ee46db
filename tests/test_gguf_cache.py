"""A GGUF is converted once to a safetensors folder that loads the same weights fast."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from asasql_resources.models.gguf_cache import converted_folder, loadable
from asasql_resources.models.locate import ModelLocation, bundled_chat_model


def test_a_plain_folder_is_loaded_as_it_is(tiny_model: Path) -> None:
    assert loadable(ModelLocation(tiny_model)) == ModelLocation(tiny_model)


@pytest.mark.bundled_model
def test_conversion_matches_the_gguf_and_is_reused(tmp_path: Path) -> None:
    gguf = bundled_chat_model()
    converted = loadable(gguf, root=tmp_path)
    assert converted.folder == converted_folder(gguf, tmp_path) and converted.gguf_file is None
    weights = converted.folder / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert loadable(gguf, root=tmp_path) == converted and weights.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.inference_mode():
        direct = AutoModelForCausalLM.from_pretrained(gguf.folder, gguf_file=gguf.gguf_file)(ids).logits
        fast = AutoModelForCausalLM.from_pretrained(converted.folder)(ids).logits
    assert torch.equal(direct, fast)
