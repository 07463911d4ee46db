"""An OpenAI-compatible chat server over the local transformers backend, with dynamic batching."""

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling


class BadRequest(ValueError):
    """A request the server cannot serve; becomes an HTTP 400 in the OpenAI error format."""


def prompt_from_messages(messages: Sequence[dict[str, object]]) -> ChatPrompt:
    """OpenAI messages as a ChatPrompt: system text, (user, assistant) turns, then the last user message."""
    system = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system") or None
    turns = [(str(m.get("role")), str(m.get("content") or "")) for m in messages if m.get("role") != "system"]
    if not turns or turns[-1][0] != "user":
        raise BadRequest("messages must end with a user message")
    *history, (_, user) = turns
    if len(history) % 2 or any(
        role != want for (role, _), want in zip(history, ["user", "assistant"] * len(history), strict=False)
    ):
        raise BadRequest("messages must alternate user and assistant before the last user message")
    examples = tuple((history[i][1], history[i + 1][1]) for i in range(0, len(history), 2))
    return ChatPrompt(user=user, system=system, examples=examples)


def _stop_strings(value: object) -> tuple[str, ...]:
    """The request's `stop`: absent, one string, or a list of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise BadRequest(f"stop must be a string or a list of strings, got {value!r}")


def sampling_from_request(body: dict[str, object]) -> Sampling:
    """The sampling settings of a chat completions request."""
    temperature = body.get("temperature")
    try:
        return Sampling(
            n=int(body.get("n") or 1),
            temperature=1.0 if temperature is None else float(temperature),  # type: ignore[arg-type]
            top_p=float(body.get("top_p") or 1.0),
            max_new_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 256),
            seed=None if body.get("seed") is None else int(body["seed"]),  # type: ignore[arg-type]
            stop=_stop_strings(body.get("stop")),
        )
    except (TypeError, ValueError) as error:
        raise BadRequest(str(error)) from None


@dataclass
class _Pending:
    """A request waiting for its batch."""

    prompt: ChatPrompt
    sampling: Sampling
    done: threading.Event = field(default_factory=threading.Event)
    outputs: list[str] = field(default_factory=list)
    error: Exception | None = None


class DynamicBatcher:
    """Collects concurrent requests with equal sampling settings into one batched generate call."""

    def __init__(self, backend: LocalChatBackend, window_s: float = 0.02):
        """A worker thread that drains the queue every window."""
        self.backend = backend
        self.window_s = window_s
        self._queue: list[_Pending] = []
        self._lock = threading.Condition()
        threading.Thread(target=self._work, daemon=True, name="asasql-batcher").start()

    def submit(self, prompt: ChatPrompt, sampling: Sampling) -> list[str]:
        """Block until this prompt's completions are ready."""
        pending = _Pending(prompt, sampling)
        with self._lock:
            self._queue.append(pending)
            self._lock.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _work(self) -> None:
        """Run batches forever: wait for work, let the window fill, group by sampling, generate."""
        while True:
            with self._lock:
                while not self._queue:
                    self._lock.wait()
            time.sleep(self.window_s)
            with self._lock:
                batch, self._queue = self._queue, []
            groups: dict[Sampling, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(pending.sampling, []).append(pending)
            for sampling, members in groups.items():
                try:
                    results = self.backend.generate([m.prompt for m in members], sampling)
                    for member, outputs in zip(members, results, strict=False):
                        member.outputs = outputs
                except Exception as error:  # noqa: BLE001 - handed back to the waiting request
                    for member in members:
                        member.error = error
                for member in members:
                    member.done.set()


def build_app(backend: LocalChatBackend, model_name: str) -> Starlette:
    """The ASGI app: GET /v1/models and POST /v1/chat/completions."""
    batcher = DynamicBatcher(backend)

    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "asasql"}]})

    async def completions(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            prompt = prompt_from_messages(body.get("messages") or [])
            sampling = sampling_from_request(body)
        except (BadRequest, ValueError, AttributeError) as error:
            return JSONResponse({"error": {"message": str(error), "type": "invalid_request_error"}}, status_code=400)
        outputs = await asyncio.to_thread(batcher.submit, prompt, sampling)
        tokenizer = backend.loaded().tokenizer
        prompt_tokens = len(tokenizer(backend.render(prompt), add_special_tokens=False)["input_ids"])
        completion_tokens = sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs)
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model_name,
                "choices": [
                    {"index": i, "message": {"role": "assistant", "content": o}, "finish_reason": "stop"}
                    for i, o in enumerate(outputs)
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", completions, methods=["POST"])])


def serve(backend: LocalChatBackend, model_name: str, host: str = "127.0.0.1", port: int = 8000) -> uvicorn.Server:
    """A uvicorn server for the app (call .run(), or run it in a thread and set should_exit to stop)."""
    return uvicorn.Server(uvicorn.Config(build_app(backend, model_name), host=host, port=port, log_level="warning"))
