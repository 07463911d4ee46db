"""Sampling settings, progress callbacks and counters shared by every chat backend."""

from collections.abc import Callable
from dataclasses import asdict, dataclass

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Sampling:
    """How to sample: n completions per prompt; temperature 0 means greedy.

    `stop` holds strings that end a completion, as in the OpenAI API: the text is cut before the first one.
    """

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject settings no backend can honour."""
        if self.n < 1 or self.max_new_tokens < 1:
            raise ValueError(f"n and max_new_tokens must be >= 1, got n={self.n}, max_new_tokens={self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")
        if not all(self.stop):
            raise ValueError(f"stop strings must not be empty, got {self.stop!r}")

    @property
    def greedy(self) -> bool:
        """Whether decoding is deterministic without a seed."""
        return self.temperature == 0

    def as_dict(self) -> dict[str, object]:
        """The settings as a plain mapping (no stop key when there are none, so older cache keys still hold)."""
        settings = asdict(self)
        if not self.stop:
            del settings["stop"]
        return settings

    def cut(self, text: str) -> str:
        """The text before the first stop string (all of it when none occurs)."""
        ends = [text.find(stop) for stop in self.stop]
        return text[: min((end for end in ends if end >= 0), default=len(text))]


@dataclass
class GenerationStats:
    """What a backend has done in this process: for counters, progress and benchmarks."""

    model_calls: int = 0
    prompts: int = 0
    completions: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    truncated_prompts: int = 0
