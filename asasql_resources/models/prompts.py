"""ChatPrompt: one conversation to complete, with optional few-shot turns."""

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChatPrompt:
    """A system message, few-shot (user, assistant) turns, and the user message to answer."""

    user: str
    system: str | None = None
    examples: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def messages(self) -> list[dict[str, str]]:
        """The conversation in the OpenAI / chat-template message format."""
        turns = [{"role": "system", "content": self.system}] if self.system else []
        for question, answer in self.examples:
            turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return turns + [{"role": "user", "content": self.user}]

    def canonical(self) -> str:
        """A stable text form, for cache keys."""
        return json.dumps(self.messages(), ensure_ascii=False, separators=(",", ":"))
