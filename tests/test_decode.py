"""The decode loop (shared prefix, prefill groups, rows dropped) gives what transformers' own generate gives."""

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from asasql_resources.models import decode as decode_module
from asasql_resources.models.decode import (
    PrefillPlan,
    PrefixStore,
    decode,
    draw,
    eos_ids,
    next_tokens,
    prefix_batches,
    reused_cache_memory,
    tokens_containing,
)
from asasql_resources.models.packed import LinearPacks, PackedLinear
from asasql_resources.models.sampling import Sampling


def _random_model(folder: Path, std: float = 0.5, seed: int = 0) -> PreTrainedModel:
    """The tiny Llama with its weights drawn again from N(0, std). At 0.5, greedy continuations vary token to
    token; at 0.2 (seed 1) they change, then repeat for a while, so prompt-lookup drafts are kept in part, in
    whole, or not at all."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, std, generator=generator)
    return model


@pytest.mark.parametrize(
    "texts",
    [
        ["SELECT count(*) FROM", "a much longer prompt about hosts and zones and tenants", "hi"],
        ["Schema: hosts(id, zone)\nQ: count hosts", "Schema: hosts(id, zone)\nQ: list zones with hosts", "Schema: x"],
        # two runs with starts of their own, beside prompts that share only the common start
        [
            "Schema: hosts(id, zone, tenant)\nQ: count hosts",
            "Schema: tenants(id, name, plan)\nQ: name the tenants on the gold plan",
            "Schema: hosts(id, zone, tenant)\nQ: list zones with more than three hosts",
            "Schema: x\nQ: y",
            "Schema: tenants(id, name, plan)\nQ: count tenants",
            "Schema: hosts(id, zone, tenant)\nQ: which zone",
        ],
        # runs inside a run: two questions share more than the schema that all hosts questions share
        [
            "Schema: hosts(id, zone, tenant)\nQ: count the hosts in zone a",
            "Schema: hosts(id, zone, tenant)\nQ: count the hosts in zone b and c",
            "Schema: hosts(id, zone, tenant)\nQ: list zones",
            "Schema: tenants(id)\nQ: y",
            "Schema: hosts(id, zone, tenant)\nQ: count the hosts in zone d",
        ],
    ],
)
def test_greedy_decode_matches_generate_per_prompt(
    tiny_model: Path, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_module, "PREFILL_TOKENS", 12)  # several prefill groups
    monkeypatch.setattr(decode_module, "MIN_RUN_SAVING", 1)  # the tiny prompts' short shared starts make runs
    monkeypatch.setattr(decode_module, "ROOM", 5)  # the cache grows while decoding
    monkeypatch.setattr(decode_module, "MIN_CASCADE_START", 1)  # decode steps read the common start once
    cascades, cascade = [], decode_module.cascade_attention
    monkeypatch.setattr(decode_module, "cascade_attention", lambda model: cascades.append(model) or cascade(model))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model)
    prompts = [tokenizer(text)["input_ids"] for text in texts]
    with torch.inference_mode():
        alone = [
            model.generate(torch.tensor([p]), max_new_tokens=12, do_sample=False, pad_token_id=0)[0, len(p) :].tolist()
            for p in prompts
        ]
        stop = torch.tensor([tokenizer.eos_token_id, alone[0][3]])  # the first prompt ends early and leaves the batch
        with reused_cache_memory():  # the second decode's cache reuses the first one's memory, as it was left
            decode(model, prompts[1:3], Sampling(max_new_tokens=12), stop, 0)
            ours = decode(model, prompts, Sampling(max_new_tokens=12), stop, 0)
    assert bool(cascades) == (PrefillPlan.of(prompts).shared > 0)
    for ids, full in zip(ours, alone, strict=False):
        ended = next((i for i, token in enumerate(full) if token in stop.tolist()), len(full))
        assert ids == full[:ended] and len(set(full)) > 1


def test_seeded_sampling_is_reproducible(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    prompts = [tokenizer("count the hosts")["input_ids"]] * 3
    sampling = Sampling(temperature=0.9, max_new_tokens=8)
    stop = eos_ids(model, tokenizer.eos_token_id)
    with torch.inference_mode():
        runs = [decode(model, prompts, sampling, stop, 0, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_greedy_picks_the_argmax() -> None:
    logits = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0]])
    assert next_tokens(logits, Sampling(), None).tolist() == [1, 0]


def test_top_p_keeps_the_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    generator = torch.Generator().manual_seed(0)
    draws = {next_tokens(logits, Sampling(temperature=1.0, top_p=0.75), generator).item() for _ in range(200)}
    assert draws == {0, 1}


def test_draws_follow_the_weights() -> None:
    weights = torch.tensor([[1.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(2, 4)
    for _ in range(4000):
        counts[torch.arange(2), draw(weights, generator)] += 1
    assert counts[1].tolist() == [0, 0, 0, 4000]
    assert counts[0, 1] == counts[0, 3] == 0
    assert abs(counts[0, 2] / 4000 - 0.75) < 0.03


def test_a_last_token_is_kept_and_ends_its_row(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model)
    prompts = [tokenizer(text)["input_ids"] for text in ("count hosts per zone", "list the zones")]
    stop = torch.tensor([tokenizer.eos_token_id])
    with torch.inference_mode():
        free = decode(model, prompts, Sampling(max_new_tokens=10), stop, 0)
        last = torch.tensor([free[0][2]])
        ended = decode(model, prompts, Sampling(max_new_tokens=10), stop, 0, last_ids=last)
    assert ended[0] == free[0][: free[0].index(free[0][2]) + 1]
    assert all(ids[: len(end)] == end for ids, end in zip(free, ended, strict=False))


def test_tokens_containing_finds_every_token_that_holds_a_stop_string(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    found = tokens_containing(tokenizer, (";",))
    pieces = tokenizer.batch_decode([[i] for i in found.tolist()])
    assert len(found) > 5 and all(";" in piece for piece in pieces)
    assert tokenizer(");")["input_ids"][-1] in found.tolist()
    assert tokens_containing(tokenizer, ()).numel() == 0


@pytest.mark.parametrize(
    ("text", "stop", "cut"),
    [
        ("SELECT 1; SELECT 2;", (";",), "SELECT 1"),
        ("SELECT 1\n```\nmore", (";", "```"), "SELECT 1\n"),
        ("SELECT 1", (";",), "SELECT 1"),
        ("SELECT 1;", (), "SELECT 1;"),
    ],
)
def test_sampling_cuts_before_the_first_stop_string(text: str, stop: tuple[str, ...], cut: str) -> None:
    assert Sampling(stop=stop).cut(text) == cut


def test_stop_strings_are_part_of_the_settings_only_when_given() -> None:
    assert "stop" not in Sampling().as_dict()
    assert Sampling(stop=(";",)).as_dict()["stop"] == (";",)
    with pytest.raises(ValueError, match="stop strings"):
        Sampling(stop=("",))


FAMILIES = [[1, 2, 3, 4, 9], [5, 6, 7, 8, 1], [1, 2, 3, 4, 8], [5, 6, 7, 8, 2]]


@pytest.mark.parametrize(
    ("prompts", "size", "expected"),
    [
        # prompts with a shared start sit together, in full batches
        (FAMILIES, 4, [[2, 0, 1, 3]]),
        (FAMILIES, 2, [[2, 0], [1, 3]]),
        (FAMILIES, 3, [[2, 0, 1], [3]]),
        ([[1, 2, 3, 4], [1, 9, 9, 9], [1, 2, 3, 5]], 8, [[0, 2, 1]]),
        ([[7], [7], [7]], 8, [[0, 1, 2]]),
        ([], 4, []),
    ],
)
def test_prefix_batches_keep_shared_starts_together(
    prompts: list[list[int]], size: int, expected: list[list[int]]
) -> None:
    batches = prefix_batches(prompts, size)
    assert batches == expected
    assert sorted(i for batch in batches for i in batch) == list(range(len(prompts)))


def test_a_prefill_plan_computes_each_shared_start_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_module, "MIN_RUN_SAVING", 1)
    prompts = [[1, 2, 3, 4, 5, 6], [1, 2, 9, 9, 9, 9, 9], [1, 2, 3, 4, 5, 7, 8], [1, 2, 8], [1, 2, 9, 9, 9, 1]]
    plan = PrefillPlan.of(prompts)
    assert plan.shared == 2
    assert [run.members for run in plan.runs] == [[0, 2], [4, 1]]  # lexicographic within a run
    assert plan.starts == [5, 5, 5, 2, 5]
    own = [len(p) - s for p, s in zip(prompts, plan.starts, strict=False)]
    assert [own[i] for i in plan.order] == sorted(own)
    assert plan.columns == [2, 5] and plan.width == 3 + max(own)  # run starts take 3 columns
    # the common start once, both runs' starts (3 tokens each) in one forward, the own parts in one group
    assert plan.tokens(prompts) == 2 + 2 * 3 + 5 * max(own)


def test_runs_nest_where_some_members_share_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_module, "MIN_RUN_SAVING", 1)
    prompts = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7], [1, 2, 3, 9, 9], [1, 8]]
    plan = PrefillPlan.of(prompts)
    assert plan.shared == 1
    assert [(run.members, run.start, run.end, run.level) for run in plan.runs] == [
        ([0, 1, 2], 1, 3, 0),
        ([0, 1], 3, 5, 1),
    ]
    assert plan.starts == [5, 5, 3, 1]
    assert plan.columns == [1, 3, 5] and plan.width == 4 + 2  # two levels of run starts, then own parts
    # 1 shared + 2 (outer run) + 2 (inner run) + own parts [1, 1, 2, 1] in one group of 4
    assert plan.tokens(prompts) == 1 + 2 + 2 + 4 * 2


def test_a_run_saving_fewer_tokens_than_its_cost_is_not_made() -> None:
    prompts = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7], [1, 9]]
    assert PrefillPlan.of(prompts).runs == []  # 4 tokens saved, under MIN_RUN_SAVING
    long_start = list(range(100, 140))
    plan = PrefillPlan.of([[1, *long_start, 6], [1, *long_start, 7], [1, 9]])
    assert [(run.members, run.start, run.end) for run in plan.runs] == [([0, 1], 1, 41)]


def test_a_prompt_keeps_one_own_token_when_it_is_another_prompts_start() -> None:
    prompts = [[1, 2, 3], [1, 2, 3, 4], [1, 2, 3]]
    plan = PrefillPlan.of(prompts)
    assert plan.shared == 2 and plan.runs == [] and plan.starts == [2, 2, 2]


def test_dropping_rows_moves_only_the_last_live_rows_into_the_holes() -> None:
    cache = decode_module.ReservedCache(batch=5, capacity=4)
    rows = torch.arange(5.0)[:, None, None, None].expand(5, 1, 3, 2)
    cache.update(rows, rows + 10, 0)
    cache.at = 3
    former = cache.drop(torch.tensor([False, True, False, True, False]))
    assert former.tolist() == [0, 4, 2]
    keys, values = cache.buffers[0]
    assert keys[:, 0, :3, 0].tolist() == [[0.0] * 3, [4.0] * 3, [2.0] * 3]
    assert values[:, 0, :3, 0].tolist() == [[10.0] * 3, [14.0] * 3, [12.0] * 3]
    cache.grow(6)
    assert cache.buffers[0][0].shape == (3, 1, 6, 2) and cache.buffers[0][0][1, 0, :3, 0].tolist() == [4.0] * 3


def test_grouped_attention_switches_transformers_gqa_on_for_the_cpu_only_while_it_lasts(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(decode_module.FORCE_GQA, raising=False)
    model = _random_model(tiny_model)
    with decode_module.grouped_attention(model):
        assert os.environ[decode_module.FORCE_GQA] == "1"
    assert decode_module.FORCE_GQA not in os.environ
    monkeypatch.setenv(decode_module.FORCE_GQA, "0")  # a user's own choice is left as it is
    with decode_module.grouped_attention(model):
        assert os.environ[decode_module.FORCE_GQA] == "0"
    assert os.environ[decode_module.FORCE_GQA] == "0"


def _forward_widths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions each decode forward computes, recorded as decode runs."""
    widths: list[int] = []
    forward = decode_module.forward
    monkeypatch.setattr(
        decode_module, "forward", lambda *args, **kw: widths.append(args[2].shape[1]) or forward(*args, **kw)
    )
    return widths


@pytest.mark.parametrize("max_new_tokens", [40, 12])  # 12: the drafts are cut to end at the limit
def test_a_lone_greedy_row_keeps_the_draft_tokens_greedy_picks(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, max_new_tokens: int
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model, std=0.2, seed=1)
    prompt = tokenizer("SELECT name FROM hosts WHERE")["input_ids"]
    stop = torch.tensor([tokenizer.eos_token_id])
    widths = _forward_widths(monkeypatch)
    with torch.inference_mode():
        alone = model.generate(torch.tensor([prompt]), max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0)
        ours = decode(model, [prompt], Sampling(max_new_tokens=max_new_tokens), stop, 0)[0]
    assert ours == alone[0, len(prompt) :].tolist() and len(ours) == max_new_tokens and len(set(ours)) > 2
    steps = widths[2:]  # after the prefill of the shared start and of the last prompt token
    assert max(steps) > 1 and len(steps) < max_new_tokens - 1


def test_a_last_token_inside_a_kept_draft_ends_the_row(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model, std=0.2, seed=1)
    prompt = tokenizer("SELECT name FROM hosts WHERE")["input_ids"]
    stop = torch.tensor([tokenizer.eos_token_id])
    with torch.inference_mode():
        free = decode(model, [prompt], Sampling(max_new_tokens=40), stop, 0)[0]
        last = max(set(free), key=free.index)  # the token that appears first the latest
        widths = _forward_widths(monkeypatch)
        ended = decode(model, [prompt], Sampling(max_new_tokens=40), stop, 0, last_ids=torch.tensor([last]))[0]
    assert ended == free[: free.index(last) + 1] and len(ended) > 10
    assert max(widths[2:]) > 1


def test_sampled_and_batched_rows_check_no_drafts(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model, std=0.2, seed=1)
    prompts = [tokenizer(text)["input_ids"] for text in ("SELECT name FROM hosts WHERE", "count the zones")]
    stop = torch.tensor([tokenizer.eos_token_id])
    widths = _forward_widths(monkeypatch)
    with torch.inference_mode():
        decode(
            model, prompts[:1], Sampling(max_new_tokens=20, temperature=0.8), stop, 0, torch.Generator().manual_seed(0)
        )
        sampled = widths[2:]
        widths.clear()
        decode(model, prompts, Sampling(max_new_tokens=20), stop, 0)
    assert set(sampled) == {1} and len(sampled) == 19
    assert set(widths[-19:]) == {1}


def _states(length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One layer's keys and values of `length` positions (1 head of size 2), for store bookkeeping tests."""
    return [(torch.zeros(1, length, 2), torch.zeros(1, length, 2))]


def test_a_prefix_store_finds_the_longest_kept_start_and_keeps_within_its_size() -> None:
    store = PrefixStore(max_tokens=10, min_tokens=3)
    store.keep([1, 2, 3, 4], _states(4))
    store.keep([1, 2, 3, 4, 5, 6], _states(6))  # begins with the first start: that one is not kept twice
    store.keep([7, 8], _states(2))  # under min_tokens: not worth keeping
    assert store.longest([1, 2, 3, 4, 5, 9])[0] == 5
    assert store.longest([1, 2, 9])[0] == 0 and store.longest([7, 8, 9])[0] == 0  # under min_tokens
    store.keep([9, 9, 9, 9], _states(4))  # 6 + 4 positions: both fit
    assert store.longest([1, 2, 3, 4, 5, 6])[0] == 6  # ... and this use makes [9, 9, 9, 9] the oldest
    store.keep([5, 5, 5], _states(3))  # 13 positions: the least recently used goes
    assert store.longest([9, 9, 9, 9])[0] == 0 and store.longest([1, 2, 3, 4, 5, 6])[0] == 6
    assert store.reused_tokens == 5 + 6 + 6


@pytest.mark.parametrize("cascade_from", [1, 10_000])  # with and without the batch's start read once per step
def test_a_kept_prompt_start_is_copied_not_computed_and_answers_stay_the_same(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, cascade_from: int
) -> None:
    monkeypatch.setattr(decode_module, "MIN_CASCADE_START", cascade_from)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model)
    schema = "Schema: hosts(id, zone, tenant, status), zones(id, region), tenants(id, name, plan)\n"
    questions = ["Q: count hosts", "Q: list zones with hosts", "Q: hosts per zone", "Q: hosts per tenant"]
    prompts = [tokenizer(schema + question)["input_ids"] for question in questions]
    shared = PrefillPlan.of(prompts[2:]).shared
    stop = torch.tensor([tokenizer.eos_token_id])
    sampling = Sampling(max_new_tokens=10)
    store = PrefixStore(min_tokens=8)
    with torch.inference_mode():
        fresh = [decode(model, prompts[:2], sampling, stop, 0), decode(model, prompts[2:], sampling, stop, 0)]
        decode(model, prompts[:1], sampling, stop, 0, prefixes=store)  # a lone prompt keeps all but its last token
        decode(model, prompts[:2], sampling, stop, 0, prefixes=store)
        widths = _forward_widths(monkeypatch)
        again = decode(model, prompts[2:], sampling, stop, 0, prefixes=store)
    assert again == fresh[1] and len({tuple(ids) for ids in again}) > 1
    # the batch's start holds the schema and more; the store held its schema part, so only the rest is computed
    common = len(os.path.commonprefix([prompts[0], prompts[2]]))
    assert shared > common >= 8 and widths[0] == shared - common
    assert store.longest(prompts[2][:shared])[0] == shared  # the longer start is kept in turn


def test_prefill_and_steps_run_with_the_packed_weights_given(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = _random_model(tiny_model)
    prompts = [
        tokenizer(text)["input_ids"] for text in ["Schema: hosts(id)\nQ: count hosts", "Schema: zones(id)\nQ: list"]
    ]
    stop, sampling = torch.tensor([tokenizer.eos_token_id]), Sampling(max_new_tokens=6)
    with torch.inference_mode():
        plain = decode(model, prompts, sampling, stop, 0)
        widths: list[int] = []
        forward = PackedLinear.forward
        monkeypatch.setattr(PackedLinear, "forward", lambda self, x: widths.append(x.shape[-2]) or forward(self, x))
        packs = LinearPacks()
        kept = [decode(model, prompts, sampling, stop, 0, packs=packs) for _ in range(2)]
    assert kept == [plain, plain] and widths[0] > 1  # prefill's prompt positions went through the packed layers
