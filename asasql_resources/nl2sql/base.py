"""The NL2SQL base model as a resource: the chat model that nl2sql_model fine-tunes and evaluation compares to."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.models.devices import resolve_device
from asasql_resources.models.local import DTYPES, load_causal_lm
from asasql_resources.models.locate import ModelLocation
from asasql_resources.nl2sql.finetune import BASE_SETTING, load_sft_model, model_location

DEVICE_SETTING = "ASASQL_NL2SQL_DEVICE"


class Nl2SqlBase(dg.ConfigurableResource):
    """Which causal LM is fine-tuned into the NL2SQL model, in which dtype, and on which device."""

    model: str = Field(
        default="",
        description=f"Base model; env {BASE_SETTING}. '' is the embedded Qwen2.5-Coder-0.5B-Instruct GGUF, "
        "'smollm2' the bundled SmolLM2-135M-Instruct; otherwise a local Hugging Face folder (Qwen2.5-Coder-7B, "
        "...) or .gguf file.",
    )
    dtype: str = Field(
        default="float32",
        description=f"Weights dtype while training and predicting: one of {', '.join(sorted(DTYPES))}.",
    )
    device: str = Field(
        default="cpu",
        description=f"Torch device that fine-tunes and predicts: cpu, cuda, cuda:N or mps; env {DEVICE_SETTING}.",
    )

    def location(self) -> ModelLocation:
        """The base model on disk; a missing path raises ModelNotFound naming the setting."""
        return model_location(self.model)

    def checked_device(self) -> str:
        """The device setting, checked (a DeviceError names the setting when this machine cannot use it)."""
        return str(resolve_device(self.device, DEVICE_SETTING))

    def load(self, adapter_dir: Path | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The base (shared, eval mode) or, with adapter_dir, a copy with that nl2sql adapter merged in."""
        if adapter_dir is not None:
            return load_sft_model(self.location(), adapter_dir, self.dtype, self.checked_device())
        loaded = load_causal_lm(self.location(), self.dtype, self.checked_device())
        return loaded.model.eval(), loaded.tokenizer
