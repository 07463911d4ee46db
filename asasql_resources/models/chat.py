"""ChatModel: the chat resource every stage generates with, behind one API and one call cache."""

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import dagster as dg
from pydantic import Field, PrivateAttr

from asasql_resources.models.cache import LlmCache, cache_key, cacheable
from asasql_resources.models.devices import resolve_device
from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.locate import resolve_model
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.remote import OpenAIChatBackend
from asasql_resources.models.sampling import GenerationStats, Progress, Sampling
from asasql_resources.warehouse.home import Home, resolve_home


class ChatBackend(Protocol):
    """What ChatModel needs of a backend."""

    stats: GenerationStats

    @property
    def identity(self) -> str:
        """The model identity for cache keys."""
        ...

    def generate(
        self, prompts: Sequence[ChatPrompt], sampling: Sampling, progress: Progress | None = None
    ) -> list[list[str]]:
        """n completions per prompt, in input order."""
        ...


BACKEND_NAMES = ("transformers", "openai")
_BACKENDS: dict[tuple[object, ...], ChatBackend] = {}
CACHE_CHUNK_BATCHES = 4  # a long call's completions reach the cache every this many batches


def _shifted(progress: Progress, before: int, total: int) -> Progress:
    """Progress of one chunk reported as progress of the whole call."""
    return lambda done, _: progress(before + done, total)


class ChatModel(dg.ConfigurableResource):
    """A chat LLM: the bundled SmolLM2-135M-Instruct by default, any local HF/GGUF model, or an OpenAI-compatible server."""

    backend: str = Field(
        default="transformers",
        description="transformers (local) or openai (any compatible server); env ASASQL_CHAT_BACKEND.",
    )
    model: str = Field(
        default="",
        description="transformers: empty for the embedded Qwen2.5-Coder-0.5B-Instruct, 'smollm2' for the bundled "
        "SmolLM2-135M-Instruct, or a local HF folder or .gguf file; openai: the served model name. "
        "Env ASASQL_CHAT_MODEL.",
    )
    base_url: str = Field(
        default="", description="openai: the server's base URL, e.g. http://host:8000/v1; env ASASQL_CHAT_BASE_URL."
    )
    api_key: str = Field(
        default="", description="openai: the API key, if the server wants one; env ASASQL_CHAT_API_KEY."
    )
    dtype: str = Field(
        default="auto", description="transformers: auto (bf16 where faster), float32, bfloat16, float16."
    )
    device: str = Field(default="cpu", description="transformers: cpu, cuda, cuda:N or mps; env ASASQL_CHAT_DEVICE.")
    batch_size: int = Field(default=32, ge=1, description="transformers: sequences per generate call.")
    concurrency: int = Field(default=8, ge=1, description="openai: requests in flight.")
    timeout_s: float = Field(default=120.0, gt=0, description="openai: seconds per request.")
    max_retries: int = Field(default=5, ge=0, description="openai: retries with backoff per request.")
    use_cache: bool = Field(default=True, description="Reuse completions of identical calls (greedy, or seeded).")
    home: str | None = Field(
        default=None, description="ASASQL_HOME, where the call cache lives; unset means $ASASQL_HOME."
    )
    _cache: LlmCache | None = PrivateAttr(default=None)

    def client(self) -> ChatBackend:
        """The backend, created once per process per setting (a local model loads on first generate)."""
        key = (self.backend, self.model, self.base_url, self.dtype, self.device, self.batch_size, self.concurrency)
        if self.backend not in BACKEND_NAMES:
            raise ValueError(f"ASASQL_CHAT_BACKEND={self.backend!r}: choose one of {', '.join(BACKEND_NAMES)}")
        if key not in _BACKENDS:
            if self.backend == "openai":
                _BACKENDS[key] = OpenAIChatBackend(
                    self.base_url,
                    self.model,
                    self.api_key,
                    timeout_s=self.timeout_s,
                    max_retries=self.max_retries,
                    concurrency=self.concurrency,
                )
            else:
                location = resolve_model(self.model, "ASASQL_CHAT_MODEL")
                device = str(resolve_device(self.device, "ASASQL_CHAT_DEVICE"))
                _BACKENDS[key] = LocalChatBackend(location, dtype=self.dtype, device=device, batch_size=self.batch_size)
        return _BACKENDS[key]

    @property
    def cache(self) -> LlmCache:
        """The call cache of the configured home."""
        if self._cache is None:
            self._cache = LlmCache(Home(resolve_home(self.home)).llm_cache)
        return self._cache

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        seed: int | None = 0,
        progress: Progress | None = None,
        stop: Sequence[str] = (),
    ) -> list[list[str]]:
        """n completions per prompt, each cut before its first stop string; cached calls make no model call.

        Output is otherwise returned as the model wrote it.
        """
        sampling = Sampling(
            n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, stop=tuple(stop)
        )
        backend = self.client()
        if not (self.use_cache and cacheable(sampling)):
            return backend.generate(prompts, sampling, progress)
        keys = [cache_key(self.backend, backend.identity, p, sampling) for p in prompts]
        unique = dict(zip(keys, prompts, strict=False))
        found = self.cache.lookup(unique)
        missing = [key for key in unique if key not in found]
        # Stored a chunk at a time, so that a call stopped late (a crash, a kill) keeps what it generated.
        chunk = CACHE_CHUNK_BATCHES * self.batch_size
        for start in range(0, len(missing), chunk):
            part = missing[start : start + chunk]
            shifted = None if progress is None else _shifted(progress, start, len(missing))
            seeded = replace(sampling, seed=None if sampling.seed is None else sampling.seed + start)
            fresh = backend.generate([unique[key] for key in part], seeded, shifted)
            self.cache.store(
                self.backend,
                backend.identity,
                {k: (unique[k], sampling, out) for k, out in zip(part, fresh, strict=False)},
            )
            found |= dict(zip(part, fresh, strict=False))
        return [found[key] for key in keys]
