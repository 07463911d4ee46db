"""ChatModel: the local backend, the call cache, and the openai backend against a real loopback server."""

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import openai
import pytest
from torch import nn

from asasql_resources.models.chat import CACHE_CHUNK_BATCHES, ChatModel
from asasql_resources.models.decode import PrefixStore
from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.locate import ModelLocation, ModelNotFound
from asasql_resources.models.packed import PackedLinear
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.models.remote import ChatBackendError
from asasql_resources.models.sampling import Sampling
from asasql_resources.models.server import serve
from asasql_resources.warehouse import Home, rebuild_views

PROMPTS = [
    ChatPrompt(user="Write SQL that counts the hosts.", system="You write DuckDB SQL."),
    ChatPrompt(user="List the regions.", examples=(("List the zones.", "SELECT * FROM availability_zones"),)),
    ChatPrompt(user="Which tenants are active? Answer with one SQL query only, please."),
]


def _chat(tiny_model: Path, home: Path, **settings: object) -> ChatModel:
    return ChatModel(model=str(tiny_model), home=str(home), dtype="float32", **settings)


def test_generate_returns_n_completions_in_order(tiny_model: Path, tmp_path: Path) -> None:
    chat = _chat(tiny_model, tmp_path, use_cache=False)
    outputs = chat.generate(PROMPTS, n=3, temperature=0.9, max_new_tokens=8, seed=1)
    assert [len(o) for o in outputs] == [3, 3, 3]
    assert all(isinstance(text, str) for o in outputs for text in o)
    alone = chat.generate(PROMPTS[1:2], n=1, max_new_tokens=8)
    together = chat.generate(PROMPTS, n=1, max_new_tokens=8)
    assert together[1] == alone[0], "greedy output does not depend on the batch it ran in"


def test_seeded_calls_are_cached_and_visible_in_the_warehouse(tiny_model: Path, tmp_path: Path) -> None:
    chat = _chat(tiny_model, tmp_path, batch_size=2)
    stats = chat.client().stats
    first = chat.generate(PROMPTS, n=2, temperature=0.8, max_new_tokens=6, seed=7)
    calls = stats.model_calls
    assert calls >= 2
    again = _chat(tiny_model, tmp_path, batch_size=2).generate(PROMPTS, n=2, temperature=0.8, max_new_tokens=6, seed=7)
    assert again == first and stats.model_calls == calls, "a second call with the same arguments makes no model call"
    chat.generate(PROMPTS[:1], n=2, temperature=0.8, max_new_tokens=6, seed=8)
    assert stats.model_calls == calls + 1, "another seed is another call"
    chat.generate(PROMPTS[:1], n=1, temperature=0.8, max_new_tokens=6, seed=None)
    chat.generate(PROMPTS[:1], n=1, temperature=0.8, max_new_tokens=6, seed=None)
    assert stats.model_calls == calls + 3, "unseeded sampling is never cached"
    rebuild_views(Home(tmp_path))
    con = duckdb.connect(str(Home(tmp_path).warehouse), read_only=True)
    assert con.execute("select count(*), count(distinct model) from _llm_cache").fetchone() == (4, 1)
    con.close()


def test_a_corrupt_cache_segment_is_set_aside_and_recomputed(tiny_model: Path, tmp_path: Path) -> None:
    first = _chat(tiny_model, tmp_path).generate(PROMPTS[:1], max_new_tokens=5)
    (segment,) = Home(tmp_path).llm_cache.glob("*.parquet")
    segment.write_bytes(b"PAR1 not really")
    chat = _chat(tiny_model, tmp_path)
    calls = chat.client().stats.model_calls
    assert chat.generate(PROMPTS[:1], max_new_tokens=5) == first
    assert chat.client().stats.model_calls == calls + 1
    assert chat.cache.corrupt_segments == [segment.with_suffix(".corrupt")]


def test_a_call_packs_the_weights_once_and_a_keeping_backend_once_for_all_calls(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed: list[nn.Linear] = []
    pack = PackedLinear.__init__
    monkeypatch.setattr(PackedLinear, "__init__", lambda self, linear: packed.append(linear) or pack(self, linear))
    for keep_packed, packings in ((False, 2), (True, 1)):
        backend = LocalChatBackend(ModelLocation(tiny_model), dtype="float32", batch_size=1, keep_packed=keep_packed)
        layers = sum(type(module) is nn.Linear for module in backend.loaded().model.modules())
        packed.clear()
        for _ in range(2):
            backend.generate(PROMPTS, Sampling(max_new_tokens=4))  # three batches of one prompt each
        assert len(packed) == packings * layers


def test_bad_model_settings_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="ASASQL_CHAT_MODEL='/no/such/model'"):
        ChatModel(model="/no/such/model", home=str(tmp_path)).generate(PROMPTS[:1])
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF garbage")
    with pytest.raises(ModelNotFound, match=r"ASASQL_CHAT_MODEL=.*broken.gguf.*cannot load"):
        ChatModel(model=str(broken), home=str(tmp_path), use_cache=False).generate(PROMPTS[:1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def loopback_server(tiny_model: Path) -> Iterator[tuple[str, LocalChatBackend]]:
    backend = LocalChatBackend(ModelLocation(tiny_model), dtype="float32", batch_size=16)
    port = _free_port()
    server = serve(backend, "tiny", port=port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}/v1", backend
    server.should_exit = True
    thread.join(timeout=10)


def test_openai_backend_against_a_loopback_server(
    loopback_server: tuple[str, LocalChatBackend], tmp_path: Path
) -> None:
    base_url, served = loopback_server
    remote = ChatModel(backend="openai", base_url=base_url, model="tiny", home=str(tmp_path), concurrency=6)
    outputs = remote.generate(PROMPTS * 2, n=2, temperature=0.7, max_new_tokens=6, seed=3)
    assert [len(o) for o in outputs] == [2] * 6
    assert served.stats.completions == 6, "repeated prompts in one call are generated once"
    assert served.stats.model_calls < 6, "concurrent requests were batched by the server"
    assert remote.client().stats.new_tokens > 0
    calls = served.stats.model_calls
    assert remote.generate(PROMPTS * 2, n=2, temperature=0.7, max_new_tokens=6, seed=3) == outputs
    assert served.stats.model_calls == calls, "the cache answers the repeat"
    greedy_remote = ChatModel(
        backend="openai", base_url=base_url, model="tiny", home=str(tmp_path), concurrency=1, use_cache=False
    ).generate(PROMPTS[:1], max_new_tokens=6)
    local = LocalChatBackend(ModelLocation(served.location.folder), dtype="float32")
    assert greedy_remote == local.generate(PROMPTS[:1], Sampling(max_new_tokens=6))


def test_a_served_request_copies_the_start_an_earlier_request_computed(
    loopback_server: tuple[str, LocalChatBackend], tmp_path: Path
) -> None:
    base_url, served = loopback_server
    system = "You translate questions into one DuckDB SQL query over hosts(id, zone, status), zones(id, region), tenants(id, name)."
    prompts = [ChatPrompt(system=system, user=question) for question in ("count the hosts", "list every zone")]
    client = ChatModel(
        backend="openai", base_url=base_url, model="tiny", home=str(tmp_path), concurrency=1, use_cache=False
    )
    loaded = served.loaded()
    before = loaded.prefixes.reused_tokens
    answers = [client.generate([prompt], max_new_tokens=8)[0] for prompt in prompts]  # one request after the other
    ids = [loaded.tokenizer(served.render(prompt), add_special_tokens=False)["input_ids"] for prompt in prompts]
    assert loaded.prefixes.reused_tokens - before == len(os.path.commonprefix(ids)) > 32  # the second copied it
    kept, loaded.prefixes = loaded.prefixes, PrefixStore(max_tokens=0)  # a store that keeps nothing
    try:
        fresh = [served.generate([prompt], Sampling(max_new_tokens=8))[0] for prompt in prompts]
    finally:
        loaded.prefixes = kept
    assert answers == fresh  # (the tiny model's answers are dull; test_decode checks copied starts decode the same)


def test_openai_backend_errors_name_the_setting(loopback_server: tuple[str, LocalChatBackend], tmp_path: Path) -> None:
    base_url, _ = loopback_server
    refused = ChatModel(
        backend="openai", base_url=f"http://127.0.0.1:{_free_port()}/v1", model="x", max_retries=0, home=str(tmp_path)
    )
    with pytest.raises(ChatBackendError, match=r"ASASQL_CHAT_BASE_URL='http://127.0.0.1:\d+/v1': cannot connect"):
        refused.generate(PROMPTS[:1])
    with pytest.raises(ChatBackendError, match="ASASQL_CHAT_BASE_URL is empty"):
        ChatModel(backend="openai", home=str(tmp_path)).generate(PROMPTS[:1])
    wrong_path = ChatModel(
        backend="openai", base_url=f"{base_url}/nope", model="tiny", max_retries=0, home=str(tmp_path)
    )
    with pytest.raises(ChatBackendError, match="answered 404"):
        wrong_path.generate(PROMPTS[:1])
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="must end with a user message"):
        client.chat.completions.create(model="tiny", messages=[{"role": "assistant", "content": "x"}])


def test_unknown_backend_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ASASQL_CHAT_BACKEND='vllm': choose one of transformers, openai"):
        ChatModel(backend="vllm", home=str(tmp_path)).generate(PROMPTS[:1])


@pytest.mark.bundled_model
def test_bundled_smollm2_writes_sql(tmp_path: Path) -> None:
    chat = ChatModel(model="smollm2", home=str(tmp_path), dtype="float32")
    (answer,) = chat.generate(
        [ChatPrompt(user="Write a SQL query that counts the rows of the table hosts.")], max_new_tokens=24
    )
    assert "select" in answer[0].lower()


def test_stop_strings_cut_local_and_remote_completions_alike(
    loopback_server: tuple[str, LocalChatBackend], tmp_path: Path
) -> None:
    base_url, served = loopback_server
    local = _chat(tiny_model=served.location.folder, home=tmp_path, use_cache=False)
    free = local.generate(PROMPTS[:1], max_new_tokens=12)[0][0]
    stop = free[len(free) // 2 :][:2].strip() or free[-1]
    expected = free[: free.find(stop)]
    assert stop and len(expected) < len(free)
    assert local.generate(PROMPTS[:1], max_new_tokens=12, stop=[stop]) == [[expected]]
    remote = ChatModel(backend="openai", base_url=base_url, model="tiny", home=str(tmp_path), use_cache=False)
    assert remote.generate(PROMPTS[:1], max_new_tokens=12, stop=[stop]) == [[expected]]


def test_a_call_stopped_midway_keeps_the_chunks_it_finished(tiny_model: Path, tmp_path: Path) -> None:
    chat = _chat(tiny_model, tmp_path, batch_size=1)  # a chunk is CACHE_CHUNK_BATCHES prompts
    prompts = [ChatPrompt(user=f"Count the hosts in zone {i}.") for i in range(6)]
    reported: list[tuple[int, int]] = []

    def stop_after_first_chunk(done: int, total: int) -> None:
        reported.append((done, total))
        if done > CACHE_CHUNK_BATCHES:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        chat.generate(prompts, temperature=0.8, max_new_tokens=4, seed=1, progress=stop_after_first_chunk)
    assert reported[: CACHE_CHUNK_BATCHES + 1] == [(i, 6) for i in range(1, CACHE_CHUNK_BATCHES + 2)]
    stats = chat.client().stats
    before = stats.prompts
    again = _chat(tiny_model, tmp_path, batch_size=1).generate(prompts, temperature=0.8, max_new_tokens=4, seed=1)
    assert stats.prompts - before == 6 - CACHE_CHUNK_BATCHES, "the first chunk came from the cache"
    assert len(again) == 6


def test_auto_and_the_dtype_it_stands_for_share_one_loaded_model(tiny_model: Path) -> None:
    from asasql_resources.models.local import cpu_has_bf16, load_causal_lm
    from asasql_resources.models.locate import resolve_model

    location = resolve_model(str(tiny_model), "ASASQL_CHAT_MODEL")
    auto, fp32 = load_causal_lm(location, "auto"), load_causal_lm(location, "float32")
    assert (auto is fp32) == (not cpu_has_bf16()), "without native bf16, auto is float32: one copy, not two"
    assert load_causal_lm(location, "bfloat16") is not fp32
