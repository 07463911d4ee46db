"""An OpenAI-compatible chat server over the local transformers backend, with dynamic batching.

Every request is checked against the OpenAI chat-completions schema before it reaches the model: bad input is a
400 in the OpenAI error format, a body over MAX_BODY_BYTES a 413, one slower than BODY_TIMEOUT_S a 408, and more
than `max_queue` requests at once a 429.
A prompt is never cut: one that leaves no room for `max_tokens` in the model's context is refused.
"""

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import uvicorn
from jinja2.exceptions import TemplateError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from transformers import PreTrainedTokenizerBase

from asasql_resources.models.local import Generated, LoadedModel, LocalChatBackend
from asasql_resources.models.packed import LinearPacks
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling

MAX_BODY_BYTES = 4 * 1024 * 1024  # far beyond any context; a larger body is refused before it is parsed
MAX_DEPTH = 32  # the schema nests a few levels; deeper JSON is refused
MAX_STOP = 4  # stop strings, as in the OpenAI API
DEFAULT_MAX_TOKENS = 256  # new tokens when the request names none (less when the context has less room)
DEFAULT_MAX_QUEUE = 64  # requests held at once (waiting or generating); more are answered 429
BODY_TIMEOUT_S = 30.0  # a slow client cannot hold its place in the queue longer
EXACT_CHARS = 256 * 1024  # prompts up to this many characters are counted exactly; longer ones by their start
INT64 = 2**63
# Keys the server honours, and keys it accepts only at their "off" value (null, false, 0, empty, or the one shown).
HONOURED = {"model", "messages", "n", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop"}
IGNORED = {"user", "metadata", "store", "service_tier", "parallel_tool_calls", "safety_identifier", "prompt_cache_key"}
OFF_ONLY = {
    "stream": False,
    "stream_options": None,
    "logprobs": False,
    "top_logprobs": 0,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logit_bias": {},
    "tools": [],
    "tool_choice": "none",
    "functions": [],
    "function_call": "none",
    "response_format": {"type": "text"},
    "modalities": ["text"],
    "prediction": None,
    "audio": None,
    "reasoning_effort": None,
    "web_search_options": None,
}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class RequestError(ValueError):
    """A request the server does not serve; an HTTP error in the OpenAI format."""

    status = 400
    kind = "invalid_request_error"

    def __init__(self, message: str, param: str | None = None):
        """The message the client reads, and the request key it concerns."""
        super().__init__(message)
        self.param = param

    def response(self) -> JSONResponse:
        """The error as an OpenAI-style JSON response."""
        error = {"message": str(self), "type": self.kind, "param": self.param, "code": None}
        return JSONResponse({"error": error}, status_code=self.status, headers=self.headers())

    def headers(self) -> dict[str, str]:
        """Extra response headers."""
        return {}


class BadRequest(RequestError):
    """Input the schema does not allow, or the model cannot take: 400."""


class TooLarge(RequestError):
    """A body over MAX_BODY_BYTES: 413."""

    status = 413


class SlowBody(RequestError):
    """A body that took over BODY_TIMEOUT_S to arrive (it held a place in the queue): 408."""

    status = 408


class Busy(RequestError):
    """The queue is full: 429, to be retried."""

    status = 429
    kind = "rate_limit_exceeded"

    def headers(self) -> dict[str, str]:
        """Ask the client to come back in a second."""
        return {"Retry-After": "1"}


def _check_text(text: str, where: str) -> str:
    """The text, if it is valid unicode (JSON lets a lone surrogate through, the tokenizer does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise BadRequest(f"{where} holds a lone surrogate (U+{ord(bad):04X}), which is not valid unicode") from None
    return text


def _walk(body: object) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH, and any string (key or value) that is not valid unicode."""
    stack: list[tuple[object, str, int]] = [(body, "the body", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key of {where}")
                stack.append((item, f"{where}.{key}" if where != "the body" else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


def _refuse_constant(name: str) -> float:
    """json.loads hook: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes) -> dict[str, object]:
    """The request body as a JSON object, or BadRequest saying why it is not one."""
    if not raw.strip():
        raise BadRequest("the body is empty: send a JSON object")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(body).__name__}")
    _walk(body)
    return body


def _integer(body: dict[str, object], key: str, low: int, high: int) -> int | None:
    """An optional integer in [low, high]."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer, got {json.dumps(value)[:40]}", key)
    if not low <= value <= high:
        raise BadRequest(f"{key} must be from {low} to {high}, got {value}", key)
    return value


def _number(body: dict[str, object], key: str, low: float, high: float, *, open_low: bool = False) -> float | None:
    """An optional finite number in [low, high] (or (low, high] with open_low)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{key} must be a number, got {json.dumps(value)[:40]}", key)
    value = float(value)
    if not math.isfinite(value) or value < low or value > high or (open_low and value == low):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise BadRequest(f"{key} must be in {interval}, got {value:g}", key)
    return value


def _stop_strings(value: object) -> tuple[str, ...]:
    """The request's `stop`: absent, one string, or a list of up to MAX_STOP non-empty strings."""
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(item, str) for item in stops):
        raise BadRequest(f"stop must be a string or a list of strings, got {json.dumps(value)[:60]}", "stop")
    if len(stops) > MAX_STOP:
        raise BadRequest(f"stop holds at most {MAX_STOP} strings, got {len(stops)}", "stop")
    if not all(stops):
        raise BadRequest("stop strings must not be empty", "stop")
    return tuple(stops)


def _content(message: dict[str, object], where: str) -> str:
    """A message's text: a string, or text content parts joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text":
                shown = f"type {kind!r}" if isinstance(kind, str) else "no type"
                raise BadRequest(f"{where}.content[{i}] has {shown}: this server takes text parts only", "messages")
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRequest(f"{where}.content[{i}].text must be a string", "messages")
            texts.append(text)
        return "\n".join(texts)
    raise BadRequest(f"{where}.content must be a string or a list of text parts", "messages")


def prompt_from_messages(messages: Sequence[dict[str, object]]) -> ChatPrompt:
    """OpenAI messages as a ChatPrompt: system text, (user, assistant) turns, then the last user message."""
    if not isinstance(messages, list | tuple) or not messages:
        raise BadRequest("messages must be a non-empty list of messages", "messages")
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object with a role and a content", "messages")
        role = ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if role is None:
            shown = json.dumps(message.get("role"))[:40]
            raise BadRequest(f"{where}.role {shown} is not one of {', '.join(ROLES)} (no tools here)", "messages")
        for key in ("tool_calls", "function_call", "audio"):
            if message.get(key):
                raise BadRequest(f"{where}.{key} is not supported: this server has no tools or audio", "messages")
        text = _content(message, where)
        if role == "system":
            system.append(text)
        else:
            turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise BadRequest("messages must end with a user message", "messages")
    *history, (_, user) = turns
    if len(history) % 2 or any(
        role != want for (role, _), want in zip(history, ["user", "assistant"] * len(history), strict=False)
    ):
        raise BadRequest("messages must alternate user and assistant before the last user message", "messages")
    examples = tuple((history[i][1], history[i + 1][1]) for i in range(0, len(history), 2))
    return ChatPrompt(user=user, system="\n".join(system) or None, examples=examples)


def _is_off(value: object, off: object) -> bool:
    """Whether a feature's value leaves it off: null, false, zero, empty, or the key's own off value."""
    if value is None or value is False or value == off or value in ("", [], {}):
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _check_keys(body: dict[str, object]) -> None:
    """Refuse unknown keys, and features this server cannot honour unless they are off."""
    for key, value in body.items():
        if key in HONOURED or key in IGNORED:
            continue
        if key not in OFF_ONLY:
            raise BadRequest(f"unrecognized request argument: {key}", key)
        if not _is_off(value, OFF_ONLY[key]):
            raise BadRequest(f"{key}={json.dumps(value)[:60]} is not supported by this server", key)


@dataclass(frozen=True)
class ChatRequest:
    """A checked chat-completions request; max_tokens is None when the request names none."""

    prompt: ChatPrompt
    n: int
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    max_tokens: int | None

    def sampling(self, max_new_tokens: int) -> Sampling:
        """The sampling settings, with the number of new tokens the context allows."""
        return Sampling(self.n, self.temperature, self.top_p, max_new_tokens, self.seed, self.stop)


def parse_request(body: dict[str, object], max_n: int, context: int) -> ChatRequest:
    """A request body checked against the schema (the prompt's length is checked once it is tokenized)."""
    _check_keys(body)
    if "model" in body and not isinstance(body["model"], str):
        raise BadRequest("model must be a string", "model")
    messages = body.get("messages")
    if isinstance(messages, list) and len(messages) > context:  # each message is at least one token
        raise BadRequest(
            f"messages holds {len(messages)} messages, more than the context of {context} tokens", "messages"
        )
    prompt = prompt_from_messages(messages)  # type: ignore[arg-type]
    max_tokens = _integer(body, "max_tokens", 1, context)
    max_completion = _integer(body, "max_completion_tokens", 1, context)
    if max_tokens is not None and max_completion is not None and max_tokens != max_completion:
        raise BadRequest("max_tokens and max_completion_tokens differ: send one", "max_completion_tokens")
    temperature = _number(body, "temperature", 0.0, 2.0)
    return ChatRequest(
        prompt=prompt,
        n=_integer(body, "n", 1, max_n) or 1,
        temperature=1.0 if temperature is None else temperature,
        top_p=_number(body, "top_p", 0.0, 1.0, open_low=True) or 1.0,
        seed=_integer(body, "seed", -INT64, INT64 - 1),
        stop=_stop_strings(body.get("stop")),
        max_tokens=max_completion if max_completion is not None else max_tokens,
    )


def fit_to_context(request: ChatRequest, prompt_tokens: int, context: int) -> Sampling:
    """The request's sampling, if the prompt and max_tokens fit the context; else BadRequest."""
    room = context - prompt_tokens
    if room < 1:
        raise BadRequest(f"prompt is {prompt_tokens} tokens, context is {context}", "messages")
    if request.max_tokens is None:
        return request.sampling(min(DEFAULT_MAX_TOKENS, room))
    if request.max_tokens > room:
        raise BadRequest(
            f"prompt is {prompt_tokens} tokens and max_tokens is {request.max_tokens}: more than the context of "
            f"{context} (at most {room} new tokens fit)",
            "max_tokens",
        )
    return request.sampling(request.max_tokens)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, text: str, context: int) -> list[int]:
    """A rendered prompt's token ids; a long one is read from its start, and refused once that alone is too long.

    Tokenizing costs about as much per character whatever the context, so a prompt megabytes long is refused
    from a start that holds twice the context in tokens, without tokenizing all of it.
    """
    size = max(EXACT_CHARS, 16 * context)
    while True:
        ids = tokenizer(text[:size], add_special_tokens=False)["input_ids"]
        if size >= len(text):
            return ids
        if len(ids) > 2 * context:
            raise BadRequest(
                f"prompt is over {context} tokens ({len(ids)} in its first {size} of {len(text)} characters), "
                f"context is {context}",
                "messages",
            )
        size *= 2


def context_length(loaded: LoadedModel) -> int:
    """The model's context in tokens (as LocalChatBackend reckons it)."""
    return getattr(loaded.model.config, "max_position_embeddings", None) or 2048


@dataclass
class _Pending:
    """A tokenized request waiting for its batch."""

    ids: list[int]
    sampling: Sampling
    future: Future[list[Generated]] = field(default_factory=Future)


class DynamicBatcher:
    """Collects concurrent requests with equal sampling settings into one batched generate call."""

    def __init__(self, backend: LocalChatBackend, window_s: float = 0.02):
        """A worker thread that drains the queue every window; packed weights are kept for the server's life."""
        self.backend = backend
        self.window_s = window_s
        self.packs = LinearPacks()
        self._queue: list[_Pending] = []
        self._lock = threading.Condition()
        threading.Thread(target=self._work, daemon=True, name="asasql-batcher").start()

    def submit(self, ids: list[int], sampling: Sampling) -> Future[list[Generated]]:
        """Queue a tokenized prompt; the future holds its n completions."""
        pending = _Pending(ids, sampling)
        with self._lock:
            self._queue.append(pending)
            self._lock.notify()
        return pending.future

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
                live = [m for m in members if m.future.set_running_or_notify_cancel()]  # a cancelled one drops out
                if live:
                    self._run(live, sampling)

    def _run(self, members: list[_Pending], sampling: Sampling) -> None:
        """Generate for a group; if the group fails, each member again alone, so one bad request fails only itself."""
        try:
            results = self.backend.generate_ids([m.ids for m in members], sampling, packs=self.packs)
        except Exception as error:  # noqa: BLE001 - handed back to the waiting requests
            if len(members) == 1:
                members[0].future.set_exception(error)
                return
            for member in members:
                self._run([member], sampling)
            return
        for member, outputs in zip(members, results, strict=True):
            member.future.set_result(outputs)


def _error_json(message: str, status: int, kind: str) -> JSONResponse:
    """An OpenAI-style error response."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status)


async def _read_body(request: Request) -> bytes:
    """The body, refused with TooLarge past MAX_BODY_BYTES (before all of it is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge(f"the body is {int(declared)} bytes, the limit is {MAX_BODY_BYTES}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge(f"the body is over {MAX_BODY_BYTES} bytes, the limit")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    backend: LocalChatBackend, model_name: str, max_queue: int = DEFAULT_MAX_QUEUE, window_s: float = 0.02
) -> Starlette:
    """The ASGI app: GET /v1/models and POST /v1/chat/completions, at most `max_queue` requests held at once."""
    if max_queue < 1:
        raise ValueError(f"max_queue must be >= 1, got {max_queue}")
    batcher = DynamicBatcher(backend, window_s)
    held = 0  # requests admitted and not yet answered; only the event loop's thread changes it

    def tokenize(prompt: ChatPrompt, context: int) -> list[int]:
        """The prompt's token ids through the chat template, as the model sees them."""
        try:
            text = backend.render(prompt)
        except TemplateError as error:
            raise BadRequest(f"the model's chat template refuses these messages: {error}", "messages") from None
        return prompt_ids(backend.loaded().tokenizer, text, context)

    started = int(time.time())

    async def models(_: Request) -> JSONResponse:
        model = {"id": model_name, "object": "model", "created": started, "owned_by": "asasql"}
        return JSONResponse({"object": "list", "data": [model]})

    async def complete(request: Request) -> JSONResponse:
        nonlocal held
        if held >= max_queue:  # before the body is read: the queue bounds the memory bodies take too
            raise Busy(f"the server holds {max_queue} requests already (asasql serve --max-queue): retry later")
        held += 1
        try:
            context = context_length(backend.loaded())
            try:
                raw = await asyncio.wait_for(_read_body(request), BODY_TIMEOUT_S)
            except TimeoutError:
                raise SlowBody(f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from None
            parsed = parse_request(parse_body(raw), backend.batch_size, context)
            ids = await asyncio.to_thread(tokenize, parsed.prompt, context)
            sampling = fit_to_context(parsed, len(ids), context)
            outputs = await asyncio.wrap_future(batcher.submit(ids, sampling))
        finally:
            held -= 1
        completion_tokens = sum(o.tokens for o in outputs)
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model_name,
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": o.text},
                        "logprobs": None,
                        "finish_reason": "stop" if o.stopped else "length",
                    }
                    for i, o in enumerate(outputs)
                ],
                "usage": {
                    "prompt_tokens": len(ids),
                    "completion_tokens": completion_tokens,
                    "total_tokens": len(ids) + completion_tokens,
                },
            }
        )

    async def completions(request: Request) -> JSONResponse:
        return await _answer(complete, request)

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        status = error.status_code if isinstance(error, HTTPException) else 500
        detail = error.detail if isinstance(error, HTTPException) else "internal error"
        return _error_json(str(detail), status, "invalid_request_error" if status < 500 else "server_error")

    return Starlette(
        routes=[Route("/v1/models", models), Route("/v1/chat/completions", completions, methods=["POST"])],
        exception_handlers={HTTPException: http_error},
    )


async def _answer(handler: Callable[[Request], Awaitable[JSONResponse]], request: Request) -> JSONResponse:
    """The handler's response; a refused request as its error, anything else as a 500 in the OpenAI format."""
    try:
        return await handler(request)
    except RequestError as error:
        return error.response()
    except Exception as error:  # noqa: BLE001 - the client gets a message, the server keeps running
        return _error_json(f"the server failed: {type(error).__name__}: {error}", 500, "server_error")


def serve(
    backend: LocalChatBackend,
    model_name: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> uvicorn.Server:
    """A uvicorn server for the app (call .run(), or run it in a thread and set should_exit to stop)."""
    app = build_app(backend, model_name, max_queue)
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
