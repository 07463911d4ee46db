"""`asasql serve`: every request is checked against the OpenAI schema, against a real loopback server."""

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import uvicorn

import asasql_resources.models.server as server_module
from asasql_assets.cli.serve import serve_model
from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.locate import ModelLocation
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.sampling import Sampling
from asasql_resources.models.server import (
    MAX_BODY_BYTES,
    BadRequest,
    DynamicBatcher,
    build_app,
    parse_body,
    parse_request,
    prompt_from_messages,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CONTEXT = 2048  # the tiny Llama's max_position_embeddings
USER = [{"role": "user", "content": "Count the hosts."}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Loopback:
    """A uvicorn server on 127.0.0.1 in a thread, and raw HTTP calls to it."""

    def __init__(self, backend: LocalChatBackend, **settings: object):
        self.backend = backend
        self.port = _free_port()
        app = build_app(backend, "tiny", **settings)  # type: ignore[arg-type]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.05)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def call(self, body: object, *, method: str = "POST", path: str = "/v1/chat/completions") -> tuple[int, dict, dict]:
        """(status, JSON answer, headers) for a body: bytes as they are, anything else as JSON."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=raw, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read()), {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()

    def chat(self, **body: object) -> tuple[int, dict]:
        """A chat request with the given keys (messages default to one user message)."""
        status, answer, _ = self.call({"model": "tiny", "messages": USER, **body})
        return status, answer

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def backend(tiny_model: Path) -> LocalChatBackend:
    return LocalChatBackend(ModelLocation(tiny_model), dtype="float32", batch_size=8)


@pytest.fixture(scope="module")
def server(backend: LocalChatBackend) -> Iterator[Loopback]:
    loopback = Loopback(backend)
    yield loopback
    loopback.stop()


def _refused(answer: dict, *words: str) -> str:
    message = answer["error"]["message"]
    assert answer["error"]["type"] in ("invalid_request_error", "rate_limit_exceeded")
    assert all(word in message for word in words), message
    return message


def _prompt_tokens(backend: LocalChatBackend, prompt: ChatPrompt) -> int:
    return len(backend.loaded().tokenizer(backend.render(prompt), add_special_tokens=False)["input_ids"])


# The schema, without a server.


def test_prompt_from_messages() -> None:
    prompt = ChatPrompt(user="List the regions.", examples=(("List the zones.", "SELECT * FROM zones"),))
    assert prompt_from_messages(prompt.messages()) == prompt
    system = ChatPrompt(user="Count the hosts.", system="You write DuckDB SQL.")
    assert prompt_from_messages(system.messages()) == system
    developer = [{"role": "developer", "content": "You write DuckDB SQL."}, {"role": "user", "content": "Count."}]
    assert prompt_from_messages(developer) == ChatPrompt(user="Count.", system="You write DuckDB SQL.")
    parts = [{"role": "user", "content": [{"type": "text", "text": "Count"}, {"type": "text", "text": "the hosts."}]}]
    assert prompt_from_messages(parts) == ChatPrompt(user="Count\nthe hosts.")
    for bad in ([], [{"role": "assistant", "content": "x"}], [{"role": "user"}, {"role": "user", "content": "y"}]):
        with pytest.raises(BadRequest):
            prompt_from_messages(bad)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{", "not valid JSON"),
        (b"{'messages': []}", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'"text"', "got str"),
        (b"null", "got NoneType"),
        (b'{"temperature": NaN}', "NaN is not valid JSON"),
        (b'{"temperature": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b"\xff\xfe\x00{", "not valid JSON"),
        (b'{"messages": "\xc3\x28"}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (
            json.dumps({"metadata": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}).encode(),
            "nests",
        ),
        (
            b'{"messages": [{"role": "user", "content": "a\\ud800b"}]}',
            "messages[0].content holds a lone surrogate (U+D800)",
        ),
        (b'{"\\udfff": 1}', "a key of the body holds a lone surrogate (U+DFFF)"),
        (b'{"stop": ["\\ud83d"]}', "stop[0] holds a lone surrogate"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(raw: bytes, words: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_body(raw)
    assert words in str(refused.value)


def _parse(**body: object) -> str:
    """The message BadRequest gives for a body (messages default to one user message)."""
    with pytest.raises(BadRequest) as refused:
        parse_request({"messages": USER, **body}, max_n=8, context=CONTEXT)
    return str(refused.value)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"n": 1e9}, "n must be an integer"),
        ({"n": 10**9}, "n must be from 1 to 8"),
        ({"n": 0}, "n must be from 1 to 8"),
        ({"n": -3}, "n must be from 1 to 8"),
        ({"n": 9}, "n must be from 1 to 8"),
        ({"n": True}, "n must be an integer"),
        ({"n": "2"}, "n must be an integer"),
        ({"n": 2.0}, "n must be an integer"),
        ({"max_tokens": 1e9}, "max_tokens must be an integer"),
        ({"max_tokens": 10**9}, "max_tokens must be from 1 to 2048"),
        ({"max_tokens": 0}, "max_tokens must be from 1 to 2048"),
        ({"max_tokens": -1}, "max_tokens must be from 1"),
        ({"max_tokens": "12"}, "max_tokens must be an integer"),
        ({"max_completion_tokens": 0}, "max_completion_tokens must be from 1"),
        ({"max_tokens": 8, "max_completion_tokens": 9}, "differ"),
        ({"temperature": 2.0001}, "temperature must be in [0, 2]"),
        ({"temperature": -0.1}, "temperature must be in [0, 2]"),
        ({"temperature": 1e400}, "temperature must be in [0, 2], got inf"),
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"temperature": [1]}, "temperature must be a number"),
        ({"top_p": 0}, "top_p must be in (0, 1]"),
        ({"top_p": 0.0}, "top_p must be in (0, 1]"),
        ({"top_p": 1.5}, "top_p must be in (0, 1]"),
        ({"top_p": -1}, "top_p must be in (0, 1]"),
        ({"top_p": False}, "top_p must be a number"),
        ({"seed": 2**63}, "seed must be from"),
        ({"seed": -(2**63) - 1}, "seed must be from"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 strings, got 5"),
        ({"stop": ""}, "must not be empty"),
        ({"stop": ["ok", ""]}, "must not be empty"),
        ({"stop": 7}, "stop must be a string or a list of strings"),
        ({"stop": ["a", 1]}, "stop must be a string or a list of strings"),
        ({"stop": {"a": 1}}, "stop must be a string or a list of strings"),
        ({"model": 5}, "model must be a string"),
        ({"stream": True}, "stream=true is not supported"),
        ({"logprobs": True}, "logprobs=true is not supported"),
        ({"top_logprobs": 3}, "top_logprobs=3 is not supported"),
        ({"presence_penalty": 0.5}, "presence_penalty=0.5 is not supported"),
        ({"frequency_penalty": -1}, "frequency_penalty=-1 is not supported"),
        ({"logit_bias": {"50256": -100}}, "logit_bias="),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools="),
        ({"tool_choice": "required"}, "tool_choice="),
        ({"response_format": {"type": "json_object"}}, "response_format="),
        ({"top_k": 5}, "unrecognized request argument: top_k"),
        ({"repetition_penalty": 1.1}, "unrecognized request argument: repetition_penalty"),
        ({"messages": None}, "messages must be a non-empty list"),
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": "Count the hosts."}, "messages must be a non-empty list"),
        ({"messages": {"role": "user", "content": "x"}}, "messages must be a non-empty list"),
        ({"messages": ["Count the hosts."]}, "messages[0] must be an object"),
        ({"messages": [{"content": "x"}]}, "messages[0].role null is not one of"),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, 'messages[0].role "tool"'),
        ({"messages": [{"role": "USER", "content": "x"}]}, "is not one of"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content must be a string or a list"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content must be"),
        ({"messages": [{"role": "user", "content": {"type": "text", "text": "x"}}]}, "must be a string or a list"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}
                ]
            },
            "messages[0].content[0] has type 'image_url': this server takes text parts only",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": ""}}]}]},
            "type 'input_audio'",
        ),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "content[0] has no type"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "content[0] has no type"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "content[0].text must be a string"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}, "text must be a string"),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}, *USER]},
            "messages[0].tool_calls is not supported",
        ),
        ({"messages": [*USER, {"role": "assistant", "content": "SELECT 1"}]}, "must end with a user message"),
        ({"messages": [{"role": "assistant", "content": "x"}, *USER]}, "must alternate"),
        ({"messages": [*USER, *USER]}, "must alternate"),
        ({"messages": [{"role": "system", "content": "x"}]}, "must end with a user message"),
    ],
)
def test_requests_outside_the_schema_are_refused_with_a_reason(body: dict, words: str) -> None:
    assert words in _parse(**body)


def test_requests_inside_the_schema_are_read_as_sent() -> None:
    parsed = parse_request(
        {
            "model": "anything",
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "You write SQL."}]},
                {"role": "user", "content": "Count the zones.", "name": "ana"},
                {"role": "assistant", "content": "SELECT count(*) FROM zones", "tool_calls": None, "refusal": None},
                {"role": "user", "content": [{"type": "text", "text": "And the"}, {"type": "text", "text": "hosts?"}]},
            ],
            "n": 8,
            "temperature": 2,
            "top_p": 1e-9,
            "max_completion_tokens": CONTEXT,
            "seed": -(2**63),
            "stop": ["a", "b", "c", "d"],
            "stream": False,
            "logprobs": None,
            "presence_penalty": 0,
            "frequency_penalty": 0.0,
            "logit_bias": {},
            "tools": [],
            "response_format": {"type": "text"},
            "user": "ana",
            "metadata": {"job": "x"},
        },
        max_n=8,
        context=CONTEXT,
    )
    assert parsed.prompt == ChatPrompt(
        user="And the\nhosts?", system="You write SQL.", examples=(("Count the zones.", "SELECT count(*) FROM zones"),)
    )
    assert (parsed.n, parsed.temperature, parsed.top_p, parsed.max_tokens) == (8, 2.0, 1e-9, CONTEXT)
    assert parsed.sampling(5) == Sampling(8, 2.0, 1e-9, 5, -(2**63), ("a", "b", "c", "d"))
    plain = parse_request({"messages": USER, "stop": "x", "temperature": None}, max_n=8, context=CONTEXT)
    assert (plain.n, plain.temperature, plain.top_p, plain.seed, plain.stop, plain.max_tokens) == (
        1,
        1.0,
        1.0,
        None,
        ("x",),
        None,
    ), "OpenAI's defaults"


# The server.


def test_a_valid_request_gets_choices_and_exact_usage(server: Loopback) -> None:
    backend = server.backend
    before = backend.stats.new_tokens
    status, answer = server.chat(n=3, temperature=0.9, max_tokens=5, seed=4)
    assert status == 200, answer
    choices = answer["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2] and all(c["message"]["role"] == "assistant" for c in choices)
    usage = answer["usage"]
    assert usage["prompt_tokens"] == _prompt_tokens(backend, ChatPrompt(user="Count the hosts."))
    assert usage["completion_tokens"] == backend.stats.new_tokens - before, "the tokens generated, counted"
    assert 3 <= usage["completion_tokens"] <= 3 * 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert {c["finish_reason"] for c in choices} <= {"stop", "length"}
    status, greedy = server.chat(temperature=0, max_tokens=3)
    assert status == 200
    if greedy["usage"]["completion_tokens"] == 3:  # the tiny random model rarely picks its end token
        assert greedy["choices"][0]["finish_reason"] == "length"


def test_content_parts_reach_the_model_as_joined_text(server: Loopback) -> None:
    parts = [{"type": "text", "text": "Count"}, {"type": "text", "text": "the hosts."}]
    status, as_parts = server.chat(messages=[{"role": "user", "content": parts}], temperature=0, max_tokens=6)
    status_text, as_text = server.chat(
        messages=[{"role": "user", "content": "Count\nthe hosts."}], temperature=0, max_tokens=6
    )
    assert status == status_text == 200
    assert as_parts["choices"] == as_text["choices"] and as_parts["usage"] == as_text["usage"]
    image = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "http://x/a.png"}}]
    status, refused = server.chat(messages=[{"role": "user", "content": image}])
    assert status == 400
    _refused(refused, "messages[0].content[1] has type 'image_url'")


def test_a_prompt_longer_than_the_context_is_refused_not_cut(server: Loopback) -> None:
    long = "SELECT count(*) FROM hosts WHERE zone = 'a'; " * 4500  # about 200 KB
    assert len(long) > 200_000
    tokens = _prompt_tokens(server.backend, ChatPrompt(user=long))
    truncated = server.backend.stats.truncated_prompts
    status, answer = server.chat(messages=[{"role": "user", "content": long}], max_tokens=4)
    assert status == 400
    _refused(answer, f"prompt is {tokens} tokens, context is {CONTEXT}")
    assert server.backend.stats.truncated_prompts == truncated
    status, answer = server.chat(messages=[{"role": "user", "content": long}])  # no max_tokens: the same
    assert status == 400 and f"prompt is {tokens} tokens" in answer["error"]["message"]


def test_a_prompt_megabytes_long_is_refused_from_its_start(server: Loopback) -> None:
    start = time.perf_counter()
    status, answer = server.chat(messages=[{"role": "user", "content": "a" * 3_900_000}], max_tokens=4)
    assert status == 400
    _refused(answer, f"prompt is over {CONTEXT} tokens", "of 3900", f"context is {CONTEXT}")
    assert time.perf_counter() - start < 30, "not all of it tokenized (about 15 s here)"
    many = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}] * CONTEXT + USER
    status, answer = server.chat(messages=many)
    assert status == 400
    _refused(answer, f"messages holds {2 * CONTEXT + 1} messages, more than the context of {CONTEXT} tokens")


def test_odd_but_valid_input_is_served(server: Loopback) -> None:
    for body in (
        {"messages": [{"role": "user", "content": "nul \x00 bell \x07 \U0001f600 \u202e rtl \ufeff"}]},
        {"messages": [{"role": "user", "content": ""}]},
        {"messages": [{"role": "user", "content": []}]},
        {"seed": -(2**63), "temperature": 0.5},
        {"seed": 2**63 - 1, "temperature": 2, "top_p": 1e-9},
        {"stop": ["\n", "SELECT", "x" * 500, ";"], "n": 8},
        {"n": None, "temperature": None, "top_p": None, "stop": None, "seed": None},
    ):
        status, answer = server.chat(**{"max_tokens": 3, **body})
        assert status == 200, (body, answer)
        assert answer["usage"]["completion_tokens"] <= 3 * len(answer["choices"])
    status, answer = server.chat(max_tokens=None, temperature=0)
    assert status == 200 and answer["usage"]["completion_tokens"] <= 256, "the default max_tokens"


def test_max_tokens_must_fit_beside_the_prompt(server: Loopback) -> None:
    tokens = _prompt_tokens(server.backend, ChatPrompt(user="Count the hosts."))
    status, answer = server.chat(max_tokens=CONTEXT - tokens + 1)
    assert status == 400
    _refused(answer, f"prompt is {tokens} tokens and max_tokens is {CONTEXT - tokens + 1}", f"{CONTEXT - tokens}")
    assert answer["error"]["param"] == "max_tokens"
    for n, max_tokens in ((10**9, None), (1e9, None), (None, 10**9), (None, 1e9), (None, 0)):
        status, answer = server.chat(**{"n": n, "max_tokens": max_tokens})
        assert status == 400, (n, max_tokens)
    near = "hosts " * 600  # a prompt that leaves less room than the default 256 new tokens
    room = CONTEXT - _prompt_tokens(server.backend, ChatPrompt(user=near))
    assert 0 < room
    status, answer = server.chat(messages=[{"role": "user", "content": near}], max_tokens=room, temperature=0)
    assert status == 200 and answer["usage"]["total_tokens"] <= CONTEXT


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[]", 400, "must be a JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', 400, "NaN"),
        (b"[" * 50_000, 400, "nests deeper"),
        (b"[" * 5_000 + b"]" * 5_000, 400, "nests deeper"),
        (b'{"model": "tiny", "messages": [{"role": "user", "content": "\\udc00"}]}', 400, "lone surrogate"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 1' + b"9" * 4400 + b"}", 400, "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "\xff"}]}', 400, "not valid JSON"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "the limit"),
    ],
)
def test_malformed_bodies_get_a_4xx_with_a_message(server: Loopback, raw: bytes, status: int, words: str) -> None:
    got, answer, _ = server.call(raw)
    assert got == status and words in answer["error"]["message"], answer


def test_other_paths_and_methods_answer_in_the_error_format(server: Loopback) -> None:
    status, answer, _ = server.call({}, method="GET")
    assert status == 405 and answer["error"]["message"]
    status, answer, _ = server.call({}, path="/v1/completions")
    assert status == 404 and answer["error"]["message"]
    status, models, _ = server.call(b"", method="GET", path="/v1/models")
    assert status == 200 and models["data"][0]["id"] == "tiny"


def test_one_bad_request_never_fails_the_others_in_its_batch(server: Loopback) -> None:
    good = {"model": "tiny", "messages": USER, "temperature": 0, "max_tokens": 4}
    bad = json.dumps({**good, "messages": [{"role": "user", "content": "x\ud800y"}]}).encode()  # \ud800 escaped
    assert b"\\ud800" in bad
    bodies: list[object] = [good, bad, good, good, bad, good]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(server.call, bodies))
    assert [status for status, _, _ in answers] == [200, 400, 200, 200, 400, 200]
    texts = {answer["choices"][0]["message"]["content"] for status, answer, _ in answers if status == 200}
    assert len(texts) == 1, "greedy answers do not depend on the batch"


def test_a_request_that_fails_in_the_model_fails_alone(backend: LocalChatBackend) -> None:
    batcher = DynamicBatcher(backend, window_s=0.3)
    ids = backend.loaded().tokenizer(backend.render(ChatPrompt(user="Count the hosts.")), add_special_tokens=False)
    sampling = Sampling(max_new_tokens=3)
    good = [batcher.submit(ids["input_ids"], sampling) for _ in range(2)]
    broken = batcher.submit([len(backend.loaded().tokenizer) + 10**6], sampling)  # no such token: the model raises
    assert all(len(future.result(timeout=60)) == 1 for future in good)
    with pytest.raises(IndexError):
        broken.result(timeout=60)
    gone = batcher.submit(ids["input_ids"], sampling)
    assert gone.cancel(), "a request whose client went away before its batch"
    assert len(batcher.submit(ids["input_ids"], sampling).result(timeout=60)) == 1, "the worker goes on"


def test_load_up_to_the_queue_limit_is_held_and_past_it_answered_429(backend: LocalChatBackend) -> None:
    loopback = Loopback(backend, max_queue=3, window_s=1.5)  # a long batching window, so that requests pile up
    body = {"model": "tiny", "messages": USER, "temperature": 0, "max_tokens": 3}
    try:
        with ThreadPoolExecutor(3) as pool:
            held = list(pool.map(loopback.call, [body] * 3))
        assert [status for status, _, _ in held] == [200] * 3
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(loopback.call, [body] * 8))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [200] * 3 + [429] * 5, statuses
        busy = [(answer, headers) for status, answer, headers in answers if status == 429]
        assert all(headers.get("retry-after") == "1" for _, headers in busy)
        _refused(busy[0][0], "holds 3 requests already", "--max-queue")
        refused = {**body, "messages": [{"role": "user", "content": "hosts " * 3000}]}
        assert [loopback.call(refused)[0] for _ in range(4)] == [400] * 4, "refused requests leave the queue"
        assert loopback.call(body)[0] == 200
        client = openai.OpenAI(base_url=loopback.base_url, api_key="x", max_retries=6)
        with ThreadPoolExecutor(6) as pool:  # the openai client retries a 429, so all are answered
            done = list(
                pool.map(lambda _: client.chat.completions.create(model="tiny", messages=USER, max_tokens=2), range(6))
            )
        assert all(answer.choices[0].message.content is not None for answer in done)
    finally:
        loopback.stop()


def test_the_openai_client_is_answered_and_refused_in_its_terms(server: Loopback) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    parts = [{"type": "text", "text": "Count the hosts."}]
    answer = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": parts}], max_completion_tokens=3, n=2, seed=2**63 - 1
    )
    assert len(answer.choices) == 2 and answer.usage.completion_tokens <= 6
    with pytest.raises(openai.BadRequestError, match="stream=true is not supported"):
        client.chat.completions.create(model="tiny", messages=USER, stream=True)
    with pytest.raises(openai.BadRequestError, match="top_p must be in"):
        client.chat.completions.create(model="tiny", messages=USER, top_p=0)
    with pytest.raises(openai.BadRequestError, match="unrecognized request argument: min_p"):
        client.chat.completions.create(model="tiny", messages=USER, extra_body={"min_p": 0.1})
    with pytest.raises(openai.BadRequestError, match="must end with a user message"):
        client.chat.completions.create(model="tiny", messages=[{"role": "assistant", "content": "x"}])


def test_a_slow_body_holds_its_place_only_so_long(backend: LocalChatBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "BODY_TIMEOUT_S", 1.0)
    loopback = Loopback(backend, max_queue=1)
    body = {"model": "tiny", "messages": USER, "max_tokens": 2}
    try:
        with socket.create_connection(("127.0.0.1", loopback.port), timeout=30) as slow:
            head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            slow.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"messages": ')  # and then nothing
            time.sleep(0.3)
            assert loopback.call(body)[0] == 429, "the slow request holds the one place"
            answer = slow.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 s" in answer, answer
        assert loopback.call(body)[0] == 200
    finally:
        loopback.stop()


def test_serve_refuses_a_queue_or_batch_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_model("", "127.0.0.1", 0, 16, "cpu", max_queue=0) == 2
    assert serve_model("", "127.0.0.1", 0, 0, "cpu") == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --max-queue=0: must be at least 1",
        "error: --batch-size=0: must be at least 1",
    ]
