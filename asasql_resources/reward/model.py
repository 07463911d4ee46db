"""The reward model: a LoRA sequence classifier that scores (question, schema context, SQL) pairs."""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from pydantic import Field
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.models.adapters import check_adapter_base, load_manifest
from asasql_resources.models.devices import resolve_device
from asasql_resources.models.gguf_cache import loadable
from asasql_resources.models.local import DTYPES
from asasql_resources.models.locate import ModelLocation, bundled_embedder, resolve_model
from asasql_resources.models.sampling import Progress

BASE_SETTING = "ASASQL_REWARD_BASE"
DEVICE_SETTING = "ASASQL_REWARD_DEVICE"
EMBEDDER_BASE = "embedder"
INIT_SEED = 0

QUESTION_LABEL = "Question: "
SCHEMA_LABEL = "\nSchema:\n"
SQL_LABEL = "\nSQL: "


class BaseLoadError(ValueError):
    """A base model is there but cannot be loaded as a sequence classifier."""


@dataclass(frozen=True)
class RewardSettings:
    """Which base to load and how to wrap it: sequence length, LoRA shape and dtype."""

    base: str = "embedder"
    max_length: int = 128
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    dtype: str = "float32"

    def __post_init__(self) -> None:
        """Refuse settings that cannot load."""
        if self.dtype not in DTYPES:
            raise ValueError(f"reward dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.max_length < 16 or self.lora_r < 1 or not 0 <= self.lora_dropout < 1:
            raise ValueError(f"need max_length >= 16, lora_r >= 1 and 0 <= lora_dropout < 1, got {self}")

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain mapping, for manifests."""
        return asdict(self)


def format_pair(question: str, schema_context: str, sql: str) -> str:
    """The one text the reward model sees: the question, then the schema context, then the SQL."""
    return f"{QUESTION_LABEL}{question}{SCHEMA_LABEL}{schema_context}{SQL_LABEL}{sql}"


def encode_pair(
    tokenizer: PreTrainedTokenizerBase, question: str, schema_context: str, sql: str, max_length: int
) -> list[int]:
    """Token ids of format_pair, at most max_length: the schema is cut first, then the question, then the SQL."""
    text = format_pair(question, schema_context, sql)
    encoding = tokenizer(text, return_offsets_mapping=True, verbose=False)
    ids: list[int] = encoding["input_ids"]
    offsets: list[tuple[int, int]] = encoding["offset_mapping"]
    question_start = len(QUESTION_LABEL)
    schema_start = question_start + len(question) + len(SCHEMA_LABEL)
    sections = [(schema_start, schema_start + len(schema_context)), (question_start, question_start + len(question))]
    for start, end in sections:
        excess = len(ids) - max_length
        if excess <= 0:
            return ids
        inside = [i for i, (a, b) in enumerate(offsets) if start <= a and b <= end and a < b]
        drop = set(inside[len(inside) - min(excess, len(inside)) :])
        ids = [t for i, t in enumerate(ids) if i not in drop]
        offsets = [o for i, o in enumerate(offsets) if i not in drop]
    if len(ids) <= max_length:
        return ids
    trailing_special = len(offsets) - max(i + 1 for i, (a, b) in enumerate(offsets) if a < b)
    return ids[: max_length - trailing_special] + ids[len(ids) - trailing_special :]


def base_location(base: str) -> ModelLocation:
    """Where the configured base lies: "embedder" the bundled MiniLM, else a chat model setting (`resolve_model`)."""
    if base == EMBEDDER_BASE:
        return ModelLocation(bundled_embedder())
    return resolve_model(base, BASE_SETTING)


@functools.lru_cache(maxsize=2)
def load_base(location: ModelLocation, dtype: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Load a base once per process as a one-logit sequence classifier; its fresh head is seeded."""
    try:
        folder = loadable(location).folder
        tokenizer = AutoTokenizer.from_pretrained(folder)
        with torch.random.fork_rng():
            torch.manual_seed(INIT_SEED)
            model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, dtype=DTYPES[dtype])
    except Exception as exc:  # noqa: BLE001 - any failure to read the base is reported the same way
        reason = f"{type(exc).__name__}: {exc}"
        raise BaseLoadError(f"cannot load {location.identity} as a sequence classifier: {reason}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return tokenizer, model


def lora_config(settings: RewardSettings, model: PreTrainedModel) -> LoraConfig:
    """A fresh LoRA config for this base: attention query/value projections, the head saved whole."""
    model_type = model.config.model_type
    target_modules = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
    if target_modules is None:
        raise ValueError(f"{BASE_SETTING}={settings.base!r}: no LoRA target modules known for {model_type!r} models")
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(target_modules),
        modules_to_save=["score" if hasattr(model, "score") else "classifier"],
    )


@dataclass
class RewardModelHandle:
    """A loaded reward model: the base's tokenizer and its own LoRA-wrapped copy of the base."""

    tokenizer: PreTrainedTokenizerBase
    model: PeftModel
    settings: RewardSettings
    location: ModelLocation
    max_length: int

    @property
    def base_identity(self) -> str:
        """The base's identity, as recorded in adapter manifests."""
        return self.location.identity

    @property
    def device(self) -> torch.device:
        """Where the model's weights are: inputs go there, scores come back to the CPU."""
        return next(self.model.parameters()).device

    def encode(self, question: str, schema_context: str, sql: str) -> list[int]:
        """Token ids of one pair, truncated to this model's max_length."""
        return encode_pair(self.tokenizer, question, schema_context, sql, self.max_length)

    def score(
        self,
        pairs: Sequence[tuple[str, str, str]],
        batch_size: int = 16,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """P(correct) per (question, schema context, sql) pair, float32 in input order; progress(done, total)."""
        encoded = [self.encode(*pair) for pair in pairs]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
        scores = np.empty(len(encoded), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    batch = order[start : start + batch_size]
                    logits = self.logits([encoded[i] for i in batch])
                    scores[batch] = torch.sigmoid(logits).cpu().numpy()
                    if progress is not None:
                        progress(start + len(batch), len(order))
        finally:
            self.model.train(was_training)
        return scores

    def logits(self, sequences: Sequence[list[int]]) -> torch.Tensor:
        """One float32 logit per token id list, computed on the model's device (padded to the longest)."""
        input_ids, attention_mask = pad_batch(sequences, self.tokenizer.pad_token_id)
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device))
        return out.logits[:, 0].float()


def pad_batch(sequences: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to the longest one: (input_ids, attention_mask)."""
    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def load_reward_model(
    settings: RewardSettings, adapter_dir: Path | None = None, device: torch.device | str = "cpu"
) -> RewardModelHandle:
    """Wrap a copy of the cached base, moved to `device`, with a fresh LoRA adapter or the saved one in adapter_dir."""
    location = base_location(settings.base)
    if adapter_dir is not None:
        check_adapter_base(adapter_dir, load_manifest(adapter_dir), location.identity, "reward")
    try:
        tokenizer, base = load_base(location, settings.dtype)
    except BaseLoadError as exc:
        raise ValueError(f"{BASE_SETTING}={settings.base!r}: {exc}") from None
    model = copy.deepcopy(base).to(device)
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        if adapter_dir is None:
            peft_model = get_peft_model(model, lora_config(settings, model))
        else:
            peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    max_positions = getattr(model.config, "max_position_embeddings", settings.max_length)
    return RewardModelHandle(tokenizer, peft_model, settings, location, min(settings.max_length, max_positions))


class RewardModel(dg.ConfigurableResource):
    """The reward model's base and LoRA settings; loads a fresh or a saved adapter for scoring."""

    base: str = Field(
        default=EMBEDDER_BASE,
        description=(
            f"Base model; env {BASE_SETTING}. 'embedder' (the default) is the bundled all-MiniLM-L6-v2 encoder, '' the "
            "bundled SmolLM2-135M-Instruct GGUF (about 7 times slower to train on a CPU); otherwise a local Hugging "
            "Face folder or .gguf file."
        ),
    )
    max_length: int = Field(
        default=128,
        ge=16,
        description="Tokens per pair; the schema context is cut first (training cost grows with it).",
    )
    lora_r: int = Field(default=16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA alpha (scaling is alpha / r).")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="LoRA dropout while training.")
    dtype: str = Field(
        default="float32",
        description="Weights dtype: float32, bfloat16 or float16 (on CPUs without AVX512-BF16 or AMX, bf16 is slower).",
    )
    batch_size: int = Field(default=16, ge=1, description="Pairs per forward pass when scoring.")
    device: str = Field(
        default="cpu",
        description=f"Torch device that scores and trains: cpu, cuda, cuda:N or mps; env {DEVICE_SETTING}.",
    )

    def settings(self) -> RewardSettings:
        """These fields as RewardSettings."""
        return RewardSettings(
            base=self.base,
            max_length=self.max_length,
            lora_r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            dtype=self.dtype,
        )

    def load(self, adapter_dir: Path | None = None) -> RewardModelHandle:
        """Load the base (cached per process) with a fresh adapter, or the one saved in adapter_dir."""
        return load_reward_model(self.settings(), adapter_dir, resolve_device(self.device, DEVICE_SETTING))
