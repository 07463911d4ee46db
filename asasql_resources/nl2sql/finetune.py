"""LoRA supervised fine-tuning of a causal LM on (prompt, SQL) pairs, with the loss on the SQL and its end token only."""

from __future__ import annotations

import copy
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.models.adapters import AdapterManifest, check_adapter_base, load_manifest, save_adapter, swap_in
from asasql_resources.models.decode import eos_ids
from asasql_resources.models.local import DTYPES, load_causal_lm
from asasql_resources.models.locate import ModelLocation, resolve_model
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.training import (
    BestEpoch,
    TrainingSettings,
    check_settings,
    length_grouped_batches,
    split_validation,
)
from asasql_resources.nl2sql.sft_forward import (
    Trunk,
    compute_trunk,
    layers_skipped,
    shared_prefix,
    shared_start_forward,
)
from asasql_resources.reward.model import pad_batch

BASE_SETTING = "ASASQL_NL2SQL_BASE"
IGNORE_INDEX = -100  # the label of a token that carries no loss (the prompt, the padding)
PROGRESS_STEPS = 10  # a progress line every this many optimizer steps
_ANSWER_MARK = "\x00answer\x00"

SftExample = tuple[ChatPrompt, str]
# An epoch's model and tokenizer to its validation EX (None where nothing could be judged)
EpochScore = Callable[[PreTrainedModel, PreTrainedTokenizerBase], float | None]
Encoded = tuple[list[int], list[int]]
BaseModel = ModelLocation | str | Path


@dataclass(frozen=True)
class SftSettings(TrainingSettings):
    """The training loop's settings, plus what fine-tuning adds: sequence length, LoRA shape and dtype."""

    # 1e-3 (the loop's default) made the default Qwen base lose the demo's unseen split (0.114 -> 0.000 EX); 2e-4
    # kept it and gained on the seen split (benchmarks/transfer.py --sweep-home).
    learning_rate: float = 2e-4
    # Tokens per example: the schema context, a shown example and the SQL must fit; a shorter max_length would cut
    # the context in training but not at inference.
    max_length: int = 768
    lora_r: int = 16
    lora_alpha: int = 32
    # No dropout on the LoRA input (LLaMA-Factory's default too): its random masks cost more than they bought
    # (benchmarks/sft_speed.py).
    lora_dropout: float = 0.0
    # peft's "all-linear": every linear layer of the decoder (attention and MLP projections), not the output head.
    target_modules: str | tuple[str, ...] = "all-linear"
    # LoRA on the top `lora_layers` decoder layers only (None: all of them); the backward pass then stops at the
    # lowest adapted layer.
    lora_layers: int | None = None
    # With lora_layers, the layers below the adapted ones have nothing to train: compute their output for every
    # example once (`sft_forward.Trunk`) instead of in every epoch and validation pass.
    frozen_trunk: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        """Refuse settings that cannot train, naming the setting."""
        check_settings(
            self,
            [
                ("max_length", self.max_length >= 16, ">= 16"),
                ("lora_r", self.lora_r >= 1, ">= 1"),
                ("lora_alpha", self.lora_alpha >= 1, ">= 1"),
                ("lora_dropout", 0 <= self.lora_dropout < 1, "in [0, 1)"),
                ("lora_layers", self.lora_layers is None or self.lora_layers >= 1, "None or >= 1"),
                ("dtype", self.dtype in DTYPES, f"one of {sorted(DTYPES)}"),
            ],
        )

    def frozen_layers(self, model: PreTrainedModel) -> int:
        """How many bottom decoder layers get no LoRA (0 without lora_layers)."""
        total = model.config.num_hidden_layers
        return 0 if self.lora_layers is None else max(total - self.lora_layers, 0)

    def lora_config(self, model: PreTrainedModel) -> LoraConfig:
        """A fresh causal-LM LoRA config of this shape for model (its top lora_layers decoder layers, when set)."""
        targets = self.target_modules if isinstance(self.target_modules, str) else list(self.target_modules)
        layers = None
        if self.lora_layers is not None:
            layers = list(range(self.frozen_layers(model), model.config.num_hidden_layers))
            if isinstance(targets, str):  # peft's "all-linear" does not combine with layers_to_transform
                targets = sorted(
                    {
                        name.rsplit(".", 1)[-1]
                        for name, module in model.named_modules()
                        if isinstance(module, torch.nn.Linear) and ".layers." in name
                    }
                )
        return LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=targets,
            layers_to_transform=layers,
        )


@dataclass(frozen=True)
class SftReport:
    """What fine-tuning did; the losses are the best epoch's mean per SQL token, on the split in metrics_split."""

    n_train: int
    n_val: int
    train_loss: float
    val_loss: float
    epochs_run: int
    best_epoch: int
    metrics_split: str
    seconds: float
    history: list[dict[str, Any]]
    val_ex: float | None = None  # the best epoch's validation EX, where epochs were scored

    def as_metadata(self) -> dict[str, Any]:
        """The report as plain values, for asset metadata and adapter manifests."""
        return asdict(self)


def model_location(base: BaseModel) -> ModelLocation:
    """A base model as a location: a ModelLocation as is; "" or "bundled" the bundled SmolLM2; a folder or .gguf."""
    return base if isinstance(base, ModelLocation) else resolve_model(str(base), BASE_SETTING)


def render_prompt(tokenizer: PreTrainedTokenizerBase, prompt: ChatPrompt) -> str:
    """The prompt through the chat template, ending with the cue for the assistant's answer."""
    return tokenizer.apply_chat_template(prompt.messages(), add_generation_prompt=True, tokenize=False)


def turn_end(tokenizer: PreTrainedTokenizerBase) -> str:
    """What the chat template writes after an assistant answer (e.g. `<|im_end|>`), else the eos token."""
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _ANSWER_MARK}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    after = rendered.rpartition(_ANSWER_MARK)[2].strip() if _ANSWER_MARK in rendered else ""
    return after or tokenizer.eos_token


def stop_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """The generation config's eos ids, plus the template's end-of-turn token when it is a single token."""
    end = tokenizer(turn_end(tokenizer), add_special_tokens=False)["input_ids"]
    extra = torch.tensor(end if len(end) == 1 else [], dtype=torch.long)
    return torch.unique(torch.cat([eos_ids(model, tokenizer.eos_token_id).long(), extra]))


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id padding is written with (it is always masked out): the pad token, else the eos token."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def fit_prompt(tokenizer: PreTrainedTokenizerBase, prompt: ChatPrompt, limit: int) -> list[int]:
    """Token ids of the rendered prompt, at most limit: the schema context is cut from its end first.

    The schema context is the user message's text before its last blank line (see `sql_request`); the question
    and the answer cue are kept. When even that is too long, the prompt's start is cut.
    """
    text = render_prompt(tokenizer, prompt)
    start, blank = text.rfind(prompt.user), prompt.user.rfind("\n\n")
    context = (start, start + blank) if start >= 0 and blank > 0 else (0, 0)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    while len(encoding["input_ids"]) > limit and context[1] > context[0]:
        excess = len(encoding["input_ids"]) - limit
        inside = [a for a, b in encoding["offset_mapping"] if context[0] <= a < b <= context[1]]
        cut = inside[-excess] if excess <= len(inside) else context[0]
        text = text[:cut] + text[context[1] :]
        context = (context[0], cut)
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return encoding["input_ids"][-limit:]


def encode_example(tokenizer: PreTrainedTokenizerBase, prompt: ChatPrompt, sql: str, max_length: int) -> Encoded:
    """(input_ids, labels) of the prompt then the SQL and the end-of-turn token; labels are IGNORE_INDEX on the prompt.

    Over max_length, the prompt's schema context is cut (see fit_prompt); the SQL is never cut.
    """
    answer = tokenizer(sql.strip() + turn_end(tokenizer), add_special_tokens=False)["input_ids"]
    room = max_length - len(answer)
    if room < 1:
        raise ValueError(
            f"the SQL takes {len(answer)} tokens with its end token, leaving no room for the prompt in "
            f"max_length={max_length}: {sql[:80]!r}"
        )
    prompt_ids = fit_prompt(tokenizer, prompt, room)
    return prompt_ids + answer, [IGNORE_INDEX] * len(prompt_ids) + answer


def fresh_base(base: BaseModel, dtype: str, device: str = "cpu") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A private copy of the base model (loaded once per process, on `device`) and its tokenizer."""
    loaded = load_causal_lm(model_location(base), dtype, device)
    return copy.deepcopy(loaded.model), loaded.tokenizer


def batch_loss(
    model: PreTrainedModel | PeftModel,
    encoded: Sequence[Encoded],
    batch: Sequence[int],
    pad: int,
    trunk: Trunk | None = None,
) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy per SQL token of a batch (right-padded to its longest example), and the number of SQL tokens.

    The prompt start that every example shares (system turn and schema context) runs once (`shared_start_forward`).
    With a `trunk`, its states are the input (the layers below it pass them through, see `layers_skipped`).
    Logits are computed only from the position before the batch's first SQL token on.
    """
    input_ids, _ = pad_batch([encoded[i][0] for i in batch], pad)
    labels, _ = pad_batch([encoded[i][1] for i in batch], IGNORE_INDEX)
    first = int((labels != IGNORE_INDEX).int().argmax(dim=1).min()) - 1
    shared = shared_prefix([encoded[i][0] for i in batch], first) if len(batch) > 1 else 0
    inputs = input_ids if trunk is None else trunk.embeds(batch, input_ids.shape[1])
    out = shared_start_forward(
        model, inputs, shared, labels=labels[:, first:].to(model.device), logits_to_keep=labels.shape[1] - first
    )
    return out.loss, int((labels != IGNORE_INDEX).sum())


def evaluate(
    model: PreTrainedModel | PeftModel,
    encoded: Sequence[Encoded],
    indices: Sequence[int],
    batch_size: int,
    pad: int,
    trunk: Trunk | None = None,
) -> float:
    """Mean loss per SQL token of the examples at indices, in eval mode."""
    order = sorted(indices, key=lambda i: len(encoded[i][0]))
    total, tokens = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            loss, count = batch_loss(model, encoded, order[start : start + batch_size], pad, trunk)
            total, tokens = total + loss.item() * count, tokens + count
    return total / tokens


def train_epoch(
    model: PeftModel,
    encoded: Sequence[Encoded],
    batches: Sequence[Sequence[int]],
    optimizer: torch.optim.Optimizer,
    settings: SftSettings,
    pad: int,
    say: Callable[[str], None],
    label: str,
    trunk: Trunk | None = None,
) -> float:
    """One pass of AdamW steps over batches, gradients clipped, a progress line every PROGRESS_STEPS steps.

    Returns the mean loss per SQL token.
    """
    model.train()
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    total, tokens = 0.0, 0
    for step, batch in enumerate(batches, start=1):
        loss, count = batch_loss(model, encoded, batch, pad, trunk)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
        optimizer.step()
        total, tokens = total + loss.item() * count, tokens + count
        if step % PROGRESS_STEPS == 0:
            say(f"{label} step {step}/{len(batches)}: train_loss {total / tokens:.3f}")
    return total / tokens


def train_sft(
    base: BaseModel,
    examples: Sequence[SftExample],
    settings: SftSettings = SftSettings(),
    progress: Callable[[str], None] | None = None,
    device: str = "cpu",
    score: EpochScore | None = None,
) -> tuple[PeftModel, PreTrainedTokenizerBase, SftReport]:
    """Fine-tune a LoRA on a copy of the base, on `device`; restore the best validation epoch, return it in eval mode.

    Without a validation split (fewer than 10 examples, or val_fraction 0), every epoch runs, the last is kept,
    and the val_loss is measured on the train split (metrics_split "train"). With `score`, each epoch's model is
    also scored (its validation EX, `val_ex`), and the best epoch is the one that answers best, loss breaking ties.
    """
    if not examples:
        raise ValueError("no (prompt, SQL) examples to fine-tune the NL2SQL model on")
    started = time.perf_counter()
    say = progress or (lambda line: None)
    model, tokenizer = fresh_base(base, settings.dtype, device)
    encoded = [encode_example(tokenizer, prompt, sql, settings.max_length) for prompt, sql in examples]
    lengths = [len(ids) for ids, _ in encoded]
    pad = pad_id(tokenizer)
    train_idx, val_idx = split_validation([False] * len(examples), settings.val_fraction, settings.seed)
    eval_idx, split_name = (val_idx, "val") if val_idx else (train_idx, "train")
    rng = random.Random(settings.seed)
    history: list[dict[str, Any]] = []
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        peft_model = get_peft_model(model, settings.lora_config(model))
        trainable = {name: p for name, p in peft_model.named_parameters() if p.requires_grad}
        optimizer = torch.optim.AdamW(trainable.values(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        stopper = BestEpoch(trainable, settings, validated=bool(val_idx) or score is not None)
        depth = settings.frozen_layers(model) if settings.frozen_trunk else 0
        trunk = None
        if depth:
            trunk_started = time.perf_counter()
            trunk = compute_trunk(peft_model, [ids for ids, _ in encoded], depth, settings.batch_size, pad)
            say(f"frozen layers 1-{depth}: output computed once ({time.perf_counter() - trunk_started:.0f} s)")
        for epoch in range(1, settings.epochs + 1):
            batches = length_grouped_batches(lengths, train_idx, settings.batch_size, rng)
            epoch_started = time.perf_counter()
            with layers_skipped(peft_model, range(depth)):
                train_loss = train_epoch(
                    peft_model, encoded, batches, optimizer, settings, pad, say, f"epoch {epoch}", trunk
                )
                rate = len(train_idx) / (time.perf_counter() - epoch_started)
                val_loss = evaluate(peft_model, encoded, eval_idx, settings.batch_size, pad, trunk)
            record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "examples_per_s": rate}
            if score is not None:  # every layer is back in place: the model answers as it will once saved
                record["val_ex"] = score(peft_model, tokenizer)
            history.append(record)
            shown_ex = "" if record.get("val_ex") is None else f" val_ex {record['val_ex']:.3f}"
            say(
                f"epoch {epoch}/{settings.epochs}: train_loss {train_loss:.3f} {split_name}_loss {val_loss:.3f}"
                f"{shown_ex} ({rate:.1f} examples/s)"
            )
            if stopper.stop_after(record):
                break
    stopper.restore()
    peft_model.eval()
    best = stopper.record
    report = SftReport(
        n_train=len(train_idx),
        n_val=len(val_idx),
        train_loss=best["train_loss"],
        val_loss=best["val_loss"],
        epochs_run=len(history),
        best_epoch=best["epoch"],
        val_ex=best.get("val_ex"),
        metrics_split=split_name,
        seconds=time.perf_counter() - started,
        history=history,
    )
    return peft_model, tokenizer, report


def save_sft_adapter(
    model: PeftModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: Path,
    base: BaseModel,
    settings: SftSettings,
    report: SftReport,
    data_version: str,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Save the LoRA, tokenizer and an "nl2sql" manifest (base, settings, data version, report) into folder.

    `extra` writes more files that are swapped in with the adapter (see save_adapter).
    """
    manifest = AdapterManifest(
        kind="nl2sql",
        base_identity=model_location(base).identity,
        settings=settings.as_dict(),
        data_version=data_version,
        metrics=report.as_metadata(),
    )
    return save_adapter(model, tokenizer, folder, manifest, extra)


def merge_and_save(model: PeftModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> Path:
    """Write the base with the LoRA merged in (a plain Hugging Face folder, the model left as it was), atomically."""
    merged = copy.deepcopy(model).merge_and_unload()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{folder.name}.", suffix=".saving", dir=folder.parent) as staging:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        swap_in(Path(staging), folder)
    return folder


def load_sft_model(
    base: BaseModel, adapter_dir: Path, dtype: str = "float32", device: str = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base with the saved "nl2sql" adapter merged in, on `device`, for inference (eval mode), and its tokenizer."""
    location = model_location(base)
    check_adapter_base(adapter_dir, load_manifest(adapter_dir), location.identity, "nl2sql")
    model, tokenizer = fresh_base(location, dtype, device)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return merged.eval(), tokenizer
