"""The openai backend: any OpenAI-compatible server (vLLM, llama.cpp server, Ollama)."""

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import openai

from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import GenerationStats, Progress, Sampling


class ChatBackendError(RuntimeError):
    """A backend could not be reached or refused; the message names the setting and its value."""


class OpenAIChatBackend:
    """Chat completions over HTTP with retries and backoff (the openai client's), a timeout and a concurrency cap."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        concurrency: int = 8,
    ):
        """A client for one server and model."""
        if not base_url:
            raise ChatBackendError("ASASQL_CHAT_BASE_URL is empty: the openai backend needs the server's base URL")
        self.base_url = base_url
        self.model = model
        self.concurrency = max(1, concurrency)
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=max_retries
        )
        self.stats = GenerationStats()

    @property
    def identity(self) -> str:
        """The model identity for cache keys."""
        return f"{self.base_url}#{self.model}"

    def _complete(self, prompt: ChatPrompt, sampling: Sampling, index: int) -> str:
        """One completion; the seed is offset per sample so the n samples differ."""
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=prompt.messages(),
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=None if sampling.seed is None else sampling.seed + index,
                stop=list(sampling.stop) or None,
            )
        except openai.APIConnectionError as error:
            raise ChatBackendError(f"ASASQL_CHAT_BASE_URL={self.base_url!r}: cannot connect ({error})") from None
        except openai.APIStatusError as error:
            raise ChatBackendError(
                f"ASASQL_CHAT_BASE_URL={self.base_url!r}, ASASQL_CHAT_MODEL={self.model!r}: "
                f"the server answered {error.status_code}: {error.message}"
            ) from None
        self.stats.model_calls += 1
        usage = response.usage
        self.stats.new_tokens += usage.completion_tokens if usage else 0
        return sampling.cut(response.choices[0].message.content or "")

    def generate(
        self, prompts: Sequence[ChatPrompt], sampling: Sampling, progress: Progress | None = None
    ) -> list[list[str]]:
        """n completions per prompt, in input order, at most `concurrency` requests in flight."""
        jobs = [(p, i) for p in range(len(prompts)) for i in range(sampling.n)]
        results: list[list[str]] = [[""] * sampling.n for _ in prompts]
        start = time.perf_counter()
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = [pool.submit(self._complete, prompts[p], sampling, i) for p, i in jobs]
            for done, ((p, i), future) in enumerate(zip(jobs, futures, strict=False), start=1):
                results[p][i] = future.result()
                if progress is not None and done % sampling.n == 0:
                    progress(done // sampling.n, len(prompts))
        self.stats.seconds += time.perf_counter() - start
        self.stats.prompts += len(prompts)
        self.stats.completions += len(jobs)
        return results
