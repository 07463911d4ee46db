"""Shared fixtures: a tiny random-init Llama with the bundled tokenizer, built once per session.

The suite runs on the `tiny` preset (the bundled SmolLM2 where a real chat model is needed), in this process and
in the `asasql` processes it starts; the few tests of the default model name it.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from asasql_resources.models.gguf_cache import loadable
from asasql_resources.models.locate import bundled_chat_model

os.environ.setdefault("ASASQL_PRESET", "tiny")


def build_tiny_llama(folder: Path) -> Path:
    """Save a 2-layer, hidden-64 Llama with SmolLM2's tokenizer and chat template into folder."""
    tokenizer = AutoTokenizer.from_pretrained(loadable(bundled_chat_model()).folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Hugging Face folder holding the tiny Llama."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module: tiny matrices are far slower with several threads on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
