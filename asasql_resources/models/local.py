"""The transformers backend: a local Hugging Face folder or GGUF file, batched generation."""

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.models.decode import (
    PrefixStore,
    decode,
    eos_ids,
    prefix_batches,
    reused_cache_memory,
    tokens_containing,
)
from asasql_resources.models.gguf_cache import loadable
from asasql_resources.models.locate import ModelLocation, ModelNotFound
from asasql_resources.models.packed import LinearPacks
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import GenerationStats, Progress, Sampling

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PROBE_MAX_PARAMETERS = 2_000_000_000


@dataclass
class LoadedModel:
    """A tokenizer and causal LM ready to generate, with the dtype that was chosen and its prompt starts so far."""

    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    dtype: torch.dtype
    prefixes: PrefixStore = field(default_factory=PrefixStore)


@dataclass(frozen=True)
class Generated:
    """One completion: its text (cut at a stop string), the tokens generated for it, and whether it stopped.

    `stopped` is true when an end token or a stop string ended it, false when it ran to max_new_tokens.
    """

    text: str
    tokens: int
    stopped: bool


_LOADED: dict[tuple[str, str, str], LoadedModel] = {}


def _time_forward(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> float:
    """Seconds for one forward pass (after a warm-up pass)."""
    with torch.inference_mode():
        model(**batch)
        start = time.perf_counter()
        model(**batch)
    return time.perf_counter() - start


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX512-BF16, AMX, or Arm BF16); without it bf16 is ~10x slower."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def choose_dtype(model: PreTrainedModel, setting: str, device: str) -> torch.dtype:
    """fp32 or bf16: bf16 on a GPU; on a CPU with native bf16 the faster of the two, measured; else fp32."""
    if setting != "auto":
        return DTYPES[setting]
    if device.startswith("cuda"):
        return torch.bfloat16
    if model.num_parameters() > PROBE_MAX_PARAMETERS or not cpu_has_bf16():
        return torch.float32
    batch = {"input_ids": torch.randint(0, model.config.vocab_size, (8, 64))}
    fp32 = _time_forward(model, batch)
    bf16 = _time_forward(copy.deepcopy(model).to(torch.bfloat16), batch)
    return torch.bfloat16 if bf16 < 0.9 * fp32 else torch.float32


def load_causal_lm(location: ModelLocation, dtype: str = "auto", device: str = "cpu") -> LoadedModel:
    """Load a causal LM once per process (a GGUF through its converted safetensors folder)."""
    if dtype != "auto" and dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: choose auto, {', '.join(DTYPES)}")
    key = (location.identity, _known_dtype(dtype, device), device)
    if key not in _LOADED:
        folder = loadable(location).folder
        tokenizer = AutoTokenizer.from_pretrained(folder)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device)
        chosen = choose_dtype(model, dtype, device)
        _LOADED[key] = LoadedModel(tokenizer, model.to(chosen).eval(), chosen)
    return _LOADED[key]


def _known_dtype(setting: str, device: str) -> str:
    """The dtype a setting loads in where that is known without probing, so that "auto" and the dtype it stands
    for share one loaded model (the chat model and the NL2SQL base are often the same model)."""
    if setting != "auto":
        return setting
    if device.startswith("cuda"):
        return "bfloat16"
    return "auto" if cpu_has_bf16() else "float32"


class LocalChatBackend:
    """Generates with a local model: batches that share prompt starts, left padding, finished rows dropped."""

    def __init__(
        self,
        location: ModelLocation,
        *,
        dtype: str = "auto",
        device: str = "cpu",
        batch_size: int = 32,
        setting: str = "ASASQL_CHAT_MODEL",
        keep_packed: bool = False,
    ):
        """Remember the settings; the model loads on first use. `setting` names the model in load errors.

        A call packs the Linear weights once for all its batches (`LinearPacks`). With `keep_packed` they are
        kept for later calls too (a server: faster calls, the weights held twice); without, they are freed when the
        call ends, which keeps a pipeline run's memory down.
        """
        self.location = location
        self.setting = setting
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        self.stats = GenerationStats()
        self._kept_packs = LinearPacks() if keep_packed else None

    @property
    def identity(self) -> str:
        """The model identity for cache keys."""
        return self.location.identity

    def loaded(self) -> LoadedModel:
        """The process-wide loaded model; a model that cannot be read is a ModelNotFound naming the setting."""
        try:
            return load_causal_lm(self.location, self.dtype, self.device)
        except Exception as error:  # noqa: BLE001 - any failure to read the model is reported the same way
            raise ModelNotFound(
                f"{self.setting}={self.location.identity!r}: cannot load the model ({type(error).__name__}: {error})"
            ) from None

    def render(self, prompt: ChatPrompt) -> str:
        """A prompt as text, through the model's chat template."""
        return self.loaded().tokenizer.apply_chat_template(
            prompt.messages(), add_generation_prompt=True, tokenize=False
        )

    def generate(
        self, prompts: Sequence[ChatPrompt], sampling: Sampling, progress: Progress | None = None
    ) -> list[list[str]]:
        """n completions per prompt, in input order, each rendered and cut to leave room for max_new_tokens."""
        loaded = self.loaded()
        texts = [self.render(p) for p in prompts]
        encoded = [loaded.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        limit = self._prompt_limit(loaded, sampling)
        encoded = [self._truncate(ids, limit) for ids in encoded]
        return [[g.text for g in generated] for generated in self.generate_ids(encoded, sampling, progress)]

    def generate_ids(
        self,
        prompts: Sequence[list[int]],
        sampling: Sampling,
        progress: Progress | None = None,
        packs: LinearPacks | None = None,
    ) -> list[list[Generated]]:
        """n completions per tokenized prompt, in input order, with their token counts; prompts are not cut.

        A batch holds prompts that share their start (prefix_batches). `packs` holds the packed weights for the
        call; without it, the backend's kept ones (keep_packed) or a store freed when the call ends.
        """
        loaded = self.loaded()
        results: list[list[Generated]] = [[] for _ in prompts]
        done = 0
        if packs is None:
            packs = self._kept_packs if self._kept_packs is not None else LinearPacks()
        with reused_cache_memory():
            for indices in prefix_batches(prompts, max(1, self.batch_size // sampling.n)):
                batch = [prompts[i] for i in indices]
                for i, completions in zip(
                    indices, self._generate_batch(loaded, batch, sampling, done, packs), strict=True
                ):
                    results[i] = completions
                done += len(indices)
                if progress is not None:
                    progress(done, len(prompts))
        return results

    def _prompt_limit(self, loaded: LoadedModel, sampling: Sampling) -> int:
        """The most prompt tokens that leave room for max_new_tokens in the model's context."""
        context = getattr(loaded.model.config, "max_position_embeddings", None) or 2048
        return max(1, context - sampling.max_new_tokens)

    def _truncate(self, ids: list[int], limit: int) -> list[int]:
        """Keep the end of an over-long prompt (where the question and the answer cue are); count it."""
        if len(ids) <= limit:
            return ids
        self.stats.truncated_prompts += 1
        return ids[-limit:]

    def _generate_batch(
        self, loaded: LoadedModel, batch: list[list[int]], sampling: Sampling, offset: int, packs: LinearPacks
    ) -> list[list[Generated]]:
        """One decode of a batch of prompts, each repeated n times."""
        tokenizer, model = loaded.tokenizer, loaded.model
        generator = None
        if not sampling.greedy:
            generator = torch.Generator(device=self.device).manual_seed((sampling.seed or 0) + offset)
        start = time.perf_counter()
        with torch.inference_mode():
            new = decode(
                model,
                [ids for ids in batch for _ in range(sampling.n)],
                sampling,
                eos_ids(model, tokenizer.eos_token_id),
                tokenizer.pad_token_id,
                generator,
                tokens_containing(tokenizer, sampling.stop),
                loaded.prefixes,
                packs,
            )
        self.stats.seconds += time.perf_counter() - start
        self.stats.model_calls += 1
        self.stats.prompts += len(batch)
        self.stats.completions += len(new)
        self.stats.new_tokens += sum(len(ids) for ids in new)
        generated = []
        for ids, text in zip(new, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
            kept = sampling.cut(text)
            generated.append(Generated(kept, len(ids), len(ids) < sampling.max_new_tokens or kept != text))
        return [generated[i * sampling.n : (i + 1) * sampling.n] for i in range(len(batch))]
