"""A batched decode loop: every shared prompt start computed once (nested runs) or taken from an earlier decode
(prefix caching), prefill in length groups, a compacted cache, the start every row shares kept once (cascade
attention), finished rows dropped, packed Linear weights and in-place grouped attention on the CPU, and
prompt-lookup drafts for a lone row."""

import math
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache

import torch
from transformers import Cache, PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

from asasql_resources.models.cascade import CASCADE, SharedStart, cascade_attention
from asasql_resources.models.packed import LinearPacks, packed_linears
from asasql_resources.models.sampling import Sampling

PREFILL_TOKENS = 4096  # tokens per prefill forward at most (padding included), unless one prompt part is longer
ROOM = 64  # free positions the cache starts with and grows by when full
# A forward's fixed cost (reading every weight once) in prompt tokens of prefill (benchmarks/prefill_tokens.py).
FORWARD_IN_PREFILL_TOKENS = 32
# transformers' switch that lets SDPA read grouped key/value heads in place when a mask is given.
FORCE_GQA = "TRANSFORMERS_SDPA_FORCE_GQA"
# Prompt tokens a run must save (its start computed once instead of once per member) to be computed on its
# own: at least what one more prefill forward costs.
MIN_RUN_SAVING = FORWARD_IN_PREFILL_TOKENS
# The shortest start shared by a whole batch that decode steps read once (cascade attention) instead of once per
# row: a short common start (a system prompt) gains nothing over SDPA (benchmarks/cascade_attention.py).
MIN_CASCADE_START = 128
# A lone row decoding greedily (one question, or the last row of a batch) checks up to this many draft tokens
# per forward: the tokens that followed its latest LOOKUP_NGRAM tokens where those appeared before in its prompt
# or answer (prompt lookup; SQL repeats the schema's names). Those that greedy would pick anyway are kept, so the
# SQL is the same, sooner (benchmarks/lookup_decoding.py).
LOOKUP_TOKENS = 6
LOOKUP_NGRAM = 2
# Prompt-start positions a PrefixStore keeps in all: room for several schema-sized starts.
PREFIX_STORE_TOKENS = 2048


def eos_ids(model: PreTrainedModel, fallback: int) -> torch.Tensor:
    """The token ids that end a sequence, from the generation config (one id or a list)."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured if configured is not None else fallback]
    return torch.tensor(ids)


@lru_cache(maxsize=8)
def tokens_containing(tokenizer: PreTrainedTokenizerBase, texts: tuple[str, ...]) -> torch.Tensor:
    """The ids of every vocabulary token whose text contains one of `texts` (a stop string inside one token)."""
    if not texts:
        return torch.tensor([], dtype=torch.long)
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return torch.tensor([i for i, piece in enumerate(pieces) if any(text in piece for text in texts)], dtype=torch.long)


def prefix_batches(prompts: Sequence[Sequence[int]], size: int) -> list[list[int]]:
    """Prompt indices in lexicographic order, in batches of `size` (the last one may hold fewer).

    Prompts with a common start sit together, and a batch's prefill computes every start its prompts share
    once, however the shares nest (`PrefillPlan`); only a start shared across a batch boundary is computed
    twice. Each batch costs as many decode steps as its longest answer, so full batches are the fewest: on the
    demo's 309 candidate prompts, 10 batches instead of 16 when batches were cut where shared starts end, for
    3% more prompt tokens.
    """
    order = sorted(range(len(prompts)), key=lambda i: list(prompts[i]))
    return [order[start : start + size] for start in range(0, len(order), size)]


def length_groups(lengths: Sequence[int]) -> list[range]:
    """Ranges of ascending `lengths` to prefill one forward each, right-padded to their last: the fewest tokens.

    Each forward also costs FORWARD_IN_PREFILL_TOKENS (it reads every weight once) and holds at most
    PREFILL_TOKENS tokens, padding included (one part alone always fits).
    """
    best, cut = [0] * (len(lengths) + 1), [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        best[end] = best[end - 1] + lengths[end - 1] + FORWARD_IN_PREFILL_TOKENS
        cut[end] = end - 1
        for first in range(end - 2, -1, -1):
            if (end - first) * lengths[end - 1] > PREFILL_TOKENS:
                break
            cost = best[first] + (end - first) * lengths[end - 1] + FORWARD_IN_PREFILL_TOKENS
            if cost < best[end]:
                best[end], cut[end] = cost, first
    groups, end = [], len(lengths)
    while end > 0:
        groups.append(range(cut[end], end))
        end = cut[end]
    return groups[::-1]


def _branches(prompts: Sequence[Sequence[int]], members: list[int], depth: int) -> list[list[int]]:
    """Members (which share their first `depth` tokens) grouped by their next token, each keeping one own token."""
    branches: dict[int, list[int]] = {}
    for i in members:
        if len(prompts[i]) - 1 > depth:
            branches.setdefault(prompts[i][depth], []).append(i)
    return list(branches.values())


@dataclass(frozen=True)
class Run:
    """Prompts (`members`) that share tokens start..end beyond their parent's start, at nesting `level`."""

    members: list[int]
    start: int
    end: int
    level: int


@dataclass(frozen=True)
class PrefillPlan:
    """Which prompt starts prefill computes once, and the cache column where each prompt's tokens go.

    Runs nest: prompts that share more than the start of every prompt form runs, prompts of a run that share
    more still form runs inside it, and so on. Columns: the `shared` start of every prompt; then one block per
    nesting level, `columns[level]` on, where each run of that level puts its tokens; then padding; then the
    prompt's own tokens (after `starts[i]`), right-aligned to end at `shared + width`.
    """

    shared: int
    starts: list[int]
    runs: list[Run]
    order: list[int]
    columns: list[int]
    width: int

    @classmethod
    def of(cls, prompts: Sequence[Sequence[int]]) -> "PrefillPlan":
        """The plan for prompts: runs where prompts branch apart (a radix tree), cache rows ordered by own length."""
        shared = min(len(os.path.commonprefix(list(prompts))), min(len(p) for p in prompts) - 1)
        starts, runs = [shared] * len(prompts), []
        # (members, where their computed start ends, how far they share, the level a run of them would take)
        branches = deque([(sorted(range(len(prompts)), key=lambda i: list(prompts[i])), shared, shared, 0)])
        while branches:
            members, floor, depth, level = branches.popleft()
            for inner in _branches(prompts, members, depth):
                common = min(
                    len(os.path.commonprefix([prompts[i] for i in inner])), min(len(prompts[i]) for i in inner) - 1
                )
                if len(inner) > 1 and (len(inner) - 1) * (common - floor) >= MIN_RUN_SAVING:
                    runs.append(Run(inner, floor, common, level))
                    branches.append((inner, common, common, level + 1))
                    for i in inner:
                        starts[i] = common
                elif len(inner) > 1:
                    branches.append((inner, floor, common, level))  # no run here; members sharing more may make one
        heads = [0] * (max((run.level for run in runs), default=-1) + 1)
        for run in runs:
            heads[run.level] = max(heads[run.level], run.end - run.start)
        columns = [shared + sum(heads[:level]) for level in range(len(heads) + 1)]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) - starts[i])
        own = max(len(p) - s for p, s in zip(prompts, starts, strict=False))
        return cls(shared, starts, runs, order, columns, columns[-1] - shared + own)

    def run_groups(self) -> list[list[Run]]:
        """Runs in prefill groups: a level's runs together (parents' levels first), by length (`length_groups`)."""
        groups = []
        for level in range(len(self.columns) - 1):
            runs = sorted((run for run in self.runs if run.level == level), key=lambda run: run.end - run.start)
            groups += [[runs[i] for i in part] for part in length_groups([run.end - run.start for run in runs])]
        return groups

    def own_groups(self, prompts: Sequence[Sequence[int]]) -> list[range]:
        """Cache rows in prefill groups by own-part length (`length_groups`)."""
        return length_groups([len(prompts[i]) - self.starts[i] for i in self.order])

    def tokens(self, prompts: Sequence[Sequence[int]]) -> int:
        """Prompt tokens prefill computes, padding included."""
        own = [len(prompts[i]) - self.starts[i] for i in self.order]
        return (
            self.shared
            + sum(max(run.end - run.start for run in group) * len(group) for group in self.run_groups())
            + sum(own[group[-1]] * len(group) for group in self.own_groups(prompts))
        )


def next_tokens(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """Greedy argmax, or a draw after temperature scaling and nucleus (top_p) filtering."""
    if sampling.greedy:
        return logits.argmax(dim=-1)
    scaled = logits.float() / sampling.temperature
    weights = (scaled - scaled.amax(dim=-1, keepdim=True)).exp_()
    if sampling.top_p < 1:
        sorted_weights, order = weights.sort(dim=-1, descending=True)
        before = sorted_weights.cumsum(dim=-1) - sorted_weights
        sorted_weights[before > sampling.top_p * sorted_weights.sum(dim=-1, keepdim=True)] = 0
        weights = torch.zeros_like(weights).scatter(-1, order, sorted_weights)
    return draw(weights, generator)


def draw(weights: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row, drawn with probability proportional to `weights`, by inverse transform sampling.

    The first index whose cumulative weight exceeds a uniform draw over the row's total, summed in float64 so
    that rounding over a large vocabulary does not shift the small probabilities; several times faster than
    torch.multinomial on a CPU.
    """
    cumulative = weights.cumsum(dim=-1, dtype=torch.float64)
    uniform = torch.rand((weights.shape[0], 1), generator=generator, device=weights.device, dtype=cumulative.dtype)
    found = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True).squeeze(1)
    return found.clamp_(max=weights.shape[-1] - 1)


_POOL = threading.local()  # the buffers that caches reuse, per thread, inside `reused_cache_memory`


@contextmanager
def reused_cache_memory() -> Iterator[None]:
    """Inside, each decode's cache buffers reuse the previous decode's memory (zeroed again) instead of new memory.

    New memory costs a page fault per 4 KiB on first touch, which for a batch's cache costs more than zeroing
    reused memory. Only one decode at a time may run inside, as its buffers are the next one's.
    """
    _POOL.buffers = []
    try:
        yield
    finally:
        del _POOL.buffers


def _zeros(slot: int, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A zeroed buffer of `shape` like `like`: the pool's memory for `slot` inside `reused_cache_memory`, else new."""
    pool: list[torch.Tensor] | None = getattr(_POOL, "buffers", None)
    if pool is None:
        return like.new_zeros(shape)
    size = math.prod(shape)
    if slot == len(pool):
        pool.append(like.new_empty(size))
    elif pool[slot].numel() < size or pool[slot].dtype != like.dtype or pool[slot].device != like.device:
        pool[slot] = like.new_empty(size)
    return pool[slot][:size].view(shape).zero_()


class ReservedCache(Cache):
    """Keys and values in buffers with room to spare: a forward writes its positions at column `at` of `rows`."""

    def __init__(self, batch: int, capacity: int):
        """Empty buffers are made on the first write to each layer, `batch` rows by `capacity` positions."""
        super().__init__(layers=[])
        self.batch, self.capacity = batch, capacity
        self.buffers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.rows, self.at = slice(None), 0
        self.shared_start: SharedStart = []  # positions before every row's columns, once for all rows

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write new keys and values at column `at` of `rows`; return those rows' keys and values up to them."""
        keys, values = self._layer(layer_idx, key_states, value_states)
        end = self.at + key_states.shape[-2]
        keys[self.rows, :, self.at : end] = key_states
        values[self.rows, :, self.at : end] = value_states
        return keys[self.rows, :, :end], values[self.rows, :, :end]

    def _layer(
        self, layer_idx: int, key_like: torch.Tensor, value_like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A layer's buffers, made (zeroed) on first use with the head count, head size and dtype of the `*_like`."""
        if layer_idx == len(self.buffers):
            shape = (self.batch, key_like.shape[-3], self.capacity, key_like.shape[-1])
            keys, values = _zeros(2 * layer_idx, shape, key_like), _zeros(2 * layer_idx + 1, shape, value_like)
            self.buffers.append((keys, values))
        return self.buffers[layer_idx]

    def load(self, states: SharedStart, length: int) -> None:
        """Write the first `length` positions of `states` (a row's keys and values per layer) to row 0's columns."""
        for layer_idx, (keys, values) in enumerate(states):
            key_buffer, value_buffer = self._layer(layer_idx, keys, values)
            key_buffer[0, :, :length] = keys[:, :length]
            value_buffer[0, :, :length] = values[:, :length]

    def row_start(self, length: int) -> SharedStart:
        """A copy of row 0's keys and values at positions 0..length, per layer."""
        return [(keys[0, :, :length].clone(), values[0, :, :length].clone()) for keys, values in self.buffers]

    def share(self, source: int, rows: torch.Tensor | slice, start: int, end: int) -> None:
        """Copy row `source`'s positions start..end to `rows` (a prompt start those rows have in common)."""
        for keys, values in self.buffers:
            keys[rows, :, start:end] = keys[source : source + 1, :, start:end]
            values[rows, :, start:end] = values[source : source + 1, :, start:end]

    def split_start(self, length: int) -> None:
        """Keep positions 0..length, which every row holds the same, once in `shared_start` (then `compact` them out)."""
        self.shared_start = self.row_start(length)

    def drop(self, done: torch.Tensor) -> torch.Tensor:
        """Drop the `done` rows: the last live rows move into their places (the first `at` positions copied).

        Returns the former row of each row that is left. Buffers become views of their first live rows, so
        a dropped row costs one row's copy instead of a copy of the whole cache.
        """
        live = (~done).nonzero().squeeze(1)
        holes, movers = done[: len(live)].nonzero().squeeze(1), live[live >= len(live)]
        for keys, values in self.buffers:
            keys[holes, :, : self.at] = keys[movers, :, : self.at]
            values[holes, :, : self.at] = values[movers, :, : self.at]
        self.batch = len(live)
        self.buffers = [(keys[: self.batch], values[: self.batch]) for keys, values in self.buffers]
        former = torch.arange(self.batch, device=done.device)
        former[holes] = movers
        return former

    def compact(self, kept: torch.Tensor) -> torch.Tensor:
        """Keep each row's `kept` columns (rows by `at`) in order, right-aligned, in place; decode writes after them.

        Returns the columns each row now attends to. Prefill's layout leaves columns unused per row (other runs'
        starts, padding); without them every decode step reads fewer keys and values. The columns move through
        one scratch buffer, so no new cache memory is touched (fresh pages cost a fault each).
        """
        counts = kept.sum(dim=1)
        width = int(counts.max())
        shift = width - counts
        firsts = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)  # each row's kept columns first, in order
        source = firsts.gather(1, (torch.arange(width, device=kept.device)[None, :] - shift[:, None]).clamp(min=0))
        scratch = None
        for buffer in (buffer for pair in self.buffers for buffer in pair):
            index = source[:, None, :, None].expand(-1, buffer.shape[1], -1, buffer.shape[-1])
            scratch = torch.gather(buffer, 2, index, out=scratch)
            buffer[:, :, :width] = scratch
        self.at = width
        return torch.arange(self.capacity, device=kept.device)[None, :] >= shift[:, None]

    def grow(self, capacity: int) -> None:
        """Move the buffers into new ones of `capacity` positions (the first `at` copied over)."""
        self.capacity = capacity
        self.buffers = [(self._grown(keys), self._grown(values)) for keys, values in self.buffers]

    def _grown(self, buffer: torch.Tensor) -> torch.Tensor:
        """A buffer in a new one of the current capacity, holding the first `at` positions."""
        new = buffer.new_empty((buffer.shape[0], buffer.shape[1], self.capacity, buffer.shape[-1]))
        new[:, :, : self.at] = buffer[:, :, : self.at]
        return new


class PrefixStore:
    """Keys and values of prompt starts that earlier decodes computed, for prompts that begin the same way.

    A start's keys and values depend on its tokens alone (its positions count from 0), so a batch whose shared
    start begins with a kept one copies those positions instead of computing them (prefix caching): a server's
    requests that repeat a system turn and schema, or a question set answered in several batches. Starts are
    kept most recently used last, up to `max_tokens` positions in all; a start that a longer kept one begins
    with is not kept twice. The states must come from the model they are used with, unchanged since.
    """

    def __init__(self, max_tokens: int = PREFIX_STORE_TOKENS, min_tokens: int = MIN_RUN_SAVING):
        """An empty store; starts shorter than `min_tokens` (not worth a lookup) are neither kept nor reused."""
        self.max_tokens, self.min_tokens = max_tokens, min_tokens
        self._starts: OrderedDict[tuple[int, ...], SharedStart] = OrderedDict()
        self._lock = threading.Lock()
        self.reused_tokens = 0  # prompt positions copied instead of computed, for counters and benchmarks

    def longest(self, tokens: Sequence[int]) -> tuple[int, SharedStart]:
        """How many leading `tokens` a kept start holds (0 below min_tokens), and that start's states."""
        wanted = tuple(tokens)
        with self._lock:
            lengths = {start: len(os.path.commonprefix([start, wanted])) for start in self._starts}
            found = max(lengths, key=lengths.__getitem__, default=None)
            if found is None or lengths[found] < self.min_tokens:
                return 0, []
            self._starts.move_to_end(found)
            self.reused_tokens += lengths[found]
            return lengths[found], self._starts[found]

    def keep(self, tokens: Sequence[int], states: SharedStart) -> None:
        """Keep a start's states (per layer: keys and values, heads by positions by head size), evicting the oldest."""
        start = tuple(tokens)
        if not self.min_tokens <= len(start) <= self.max_tokens:
            return
        with self._lock:
            for kept in [kept for kept in self._starts if start[: len(kept)] == kept]:
                del self._starts[kept]
            self._starts[start] = states
            while sum(len(kept) for kept in self._starts) > self.max_tokens:
                self._starts.popitem(last=False)


@contextmanager
def grouped_attention(model: PreTrainedModel) -> Iterator[None]:
    """On the CPU, SDPA attends each key/value head in place for its group of query heads (FORCE_GQA).

    With a mask, transformers otherwise copies the cached keys and values once per query head at every layer
    (`repeat_kv`), which costs more than the attention itself at long caches (benchmarks/grouped_attention.py).
    On a GPU a mask would send grouped SDPA to its slow kernel, so the switch is left as it is there.
    """
    if model.device.type != "cpu" or os.environ.get(FORCE_GQA) is not None:
        yield
        return
    os.environ[FORCE_GQA] = "1"
    try:
        yield
    finally:
        del os.environ[FORCE_GQA]


def attention_mask(model: PreTrainedModel, allowed: torch.Tensor) -> torch.Tensor:
    """A 4D mask in the form the model's attention takes: boolean for SDPA and cascade attention, additive otherwise."""
    if model.config._attn_implementation in ("sdpa", CASCADE):
        return allowed
    additive = torch.zeros(allowed.shape, dtype=model.dtype, device=allowed.device)
    return additive.masked_fill(~allowed, torch.finfo(model.dtype).min)


def forward(
    model: PreTrainedModel,
    cache: ReservedCache,
    ids: torch.Tensor,
    allowed: torch.Tensor,
    rows: slice | torch.Tensor,
    at: int,
    keep: int = 1,
) -> torch.Tensor:
    """Logits (rows, keep, vocabulary) of the last `keep` positions of `ids`, written at column `at` of the cache's
    `rows`, which attend to `allowed` columns.

    With a `shared_start` in the cache, rows also attend to all of it, before their columns (cascade attention).
    """
    end = at + ids.shape[1]
    cache.rows, cache.at = rows, at
    causal = torch.arange(end, device=ids.device)[None, :] <= torch.arange(at, end, device=ids.device)[:, None]
    mask = attention_mask(model, allowed[:, None, None, :end] & causal)
    before = cache.shared_start[0][0].shape[1] if cache.shared_start else 0
    positions = (allowed[:, :end].cumsum(-1)[:, at:] - 1 + before).clamp(min=0)
    shared = {"shared_start": cache.shared_start} if cache.shared_start else {}
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=keep, **shared
    )
    return out.logits


def padded(rows: Sequence[Sequence[int]], pad_id: int, left: bool, device: torch.device) -> torch.Tensor:
    """Token rows padded with `pad_id` to the longest, on the left or the right."""
    longest = max(len(row) for row in rows)
    fills = [[pad_id] * (longest - len(row)) for row in rows]
    padded_rows = [fill + list(row) if left else list(row) + fill for fill, row in zip(fills, rows, strict=False)]
    return torch.tensor(padded_rows, device=device)


def prefill(
    model: PreTrainedModel, prompts: list[list[int]], pad_id: int, room: int, prefixes: PrefixStore | None = None
) -> tuple[ReservedCache, torch.Tensor, torch.Tensor, list[int]]:
    """The cache, next-token logits and attended columns per row, and the prompt of each row (`PrefillPlan`).

    The start all prompts share is computed once (after as much of it as `prefixes` holds, which then keeps it)
    and copied to every row; so is each run's longer start, a level's runs grouped by length, level after level;
    then each prompt's own tokens, grouped by length.
    The cache then keeps the shared start once when there are several rows (`ReservedCache.split_start`), and
    each row's own columns (`ReservedCache.compact`), with `room` to decode into.
    """
    plan = PrefillPlan.of(prompts)
    shared, end, device = plan.shared, plan.shared + plan.width, model.device
    row_of = {prompt: row for row, prompt in enumerate(plan.order)}
    cache = ReservedCache(len(prompts), end + room)
    allowed = torch.zeros(len(prompts), end, dtype=torch.bool, device=device)
    allowed[:, :shared] = True
    for row, prompt in enumerate(plan.order):
        allowed[row, end - (len(prompts[prompt]) - plan.starts[prompt]) : end] = True
    for run in plan.runs:
        rows = torch.tensor([row_of[i] for i in run.members], device=device)
        allowed[rows, plan.columns[run.level] : plan.columns[run.level] + run.end - run.start] = True
    if shared:
        reused, states = prefixes.longest(prompts[0][:shared]) if prefixes is not None else (0, [])
        cache.load(states, reused)
        if reused < shared:
            ids = torch.tensor([prompts[0][reused:shared]], device=device)
            forward(model, cache, ids, allowed[:1], slice(0, 1), reused)
            if prefixes is not None:
                prefixes.keep(prompts[0][:shared], cache.row_start(shared))
        cache.share(0, slice(1, None), 0, shared)
    for group in plan.run_groups():
        firsts = torch.tensor([row_of[run.members[0]] for run in group], device=device)
        starts = [prompts[run.members[0]][run.start : run.end] for run in group]
        column = plan.columns[group[0].level]
        forward(model, cache, padded(starts, pad_id, False, device), allowed[firsts], firsts, column)
        for run in group:
            others = torch.tensor([row_of[i] for i in run.members[1:]], device=device)
            cache.share(row_of[run.members[0]], others, column, column + run.end - run.start)
    logits = []
    for group in plan.own_groups(prompts):
        own = [prompts[plan.order[row]][plan.starts[plan.order[row]] :] for row in group]
        ids = padded(own, pad_id, True, device)
        rows = slice(group.start, group.stop)
        logits.append(forward(model, cache, ids, allowed[rows], rows, end - ids.shape[1])[:, -1])
    cache.at = end
    if shared >= MIN_CASCADE_START and len(prompts) > 1:
        cache.split_start(shared)
        allowed[:, :shared] = False
    return cache, torch.cat(logits), cache.compact(allowed), plan.order


def decode(
    model: PreTrainedModel,
    prompts: list[list[int]],
    sampling: Sampling,
    stop_ids: torch.Tensor,
    pad_id: int,
    generator: torch.Generator | None = None,
    last_ids: torch.Tensor | None = None,
    prefixes: PrefixStore | None = None,
    packs: LinearPacks | None = None,
) -> list[list[int]]:
    """New token ids per prompt, in any order; finished rows leave the batch.

    A row ends at a `stop_ids` token, which is left out, or after a `last_ids` token, which is kept
    (a token that holds a stop string: the caller cuts its text). With `prefixes`, the prompts' shared start
    is taken from it as far as it holds it, and kept in it. Prefill and steps run with packed Linear weights,
    kept in `packs` when given (else packed for this call).
    """
    with grouped_attention(model), packed_linears(model, packs):
        cache, logits, allowed, order = prefill(model, prompts, pad_id, min(ROOM, sampling.max_new_tokens), prefixes)
        with cascade_attention(model) if cache.shared_start else nullcontext():
            return _steps(model, cache, logits, allowed, order, prompts, sampling, stop_ids, last_ids, generator)


def lookup_draft(context: list[int], stop_ids: torch.Tensor, size: int) -> list[int]:
    """Up to `size` tokens that followed the context's last LOOKUP_NGRAM (or fewer) tokens where they appeared
    before in it, cut before a stop token (transformers' prompt lookup); none where they did not appear.

    The lookup runs on the CPU, whatever device `stop_ids` are on.
    """
    lookup = PromptLookupCandidateGenerator(
        eos_token_id=stop_ids.cpu(),
        num_output_tokens=size,
        max_matching_ngram_size=LOOKUP_NGRAM,
        max_length=len(context) + size + 1,
    )
    candidates, _ = lookup.get_candidates(torch.tensor([context]))
    return candidates[0, len(context) :].tolist()


def _steps(
    model: PreTrainedModel,
    cache: ReservedCache,
    logits: torch.Tensor,
    allowed: torch.Tensor,
    order: list[int],
    prompts: list[list[int]],
    sampling: Sampling,
    stop_ids: torch.Tensor,
    last_ids: torch.Tensor | None,
    generator: torch.Generator | None,
) -> list[list[int]]:
    """The decode steps after prefill: new token ids per prompt (row `i` holds prompt `order[i]`).

    Each step picks one token per row. A lone row decoding greedily also feeds a `lookup_draft` after its token
    and keeps the draft's tokens up to the first one greedy would not have picked (LOOKUP_TOKENS).
    """
    rows = torch.tensor(order, device=model.device)
    stop_ids = stop_ids.to(model.device)
    last_ids = (last_ids if last_ids is not None else torch.tensor([], dtype=torch.long)).to(model.device)
    generated: list[list[int]] = [[] for _ in order]
    made = 0  # tokens each live row has made
    while True:
        tokens = next_tokens(logits, sampling, generator)
        stopped = torch.isin(tokens, stop_ids)
        done = stopped | torch.isin(tokens, last_ids)
        for row, token, left_out in zip(rows.tolist(), tokens.tolist(), stopped.tolist(), strict=False):
            if not left_out:
                generated[row].append(token)
        made += 1
        if done.all() or made == sampling.max_new_tokens:
            return generated
        if done.any():
            former = cache.drop(done)
            rows, tokens, allowed = rows[former], tokens[former], allowed[former]
        draft: list[int] = []
        size = min(LOOKUP_TOKENS, sampling.max_new_tokens - made - 1)  # room for the token after the draft
        if len(rows) == 1 and sampling.greedy and size > 0:
            prompt = int(rows[0])
            draft = lookup_draft(prompts[prompt] + generated[prompt], stop_ids, size)
        ids = tokens[:, None]
        if draft:
            ids = torch.cat([tokens, torch.tensor(draft, dtype=tokens.dtype, device=tokens.device)])[None]
        if cache.at + ids.shape[1] > cache.capacity:
            room = max(ROOM, cache.at + ids.shape[1] - cache.capacity)
            cache.grow(cache.capacity + room)
            allowed = torch.cat([allowed, allowed.new_ones((len(rows), room))], dim=1)
        every = forward(model, cache, ids, allowed, slice(None), cache.at, keep=ids.shape[1])
        picked = every[0, :-1].argmax(dim=-1).tolist() if draft else []
        kept = next(
            (i for i, (token, pick) in enumerate(zip(draft, picked, strict=False)) if token != pick), len(draft)
        )
        for token in draft[:kept]:  # a draft holds no stop token
            generated[int(rows[0])].append(token)
            if token in last_ids:
                return generated
        made += kept
        cache.at += 1 + kept
        logits = every[:, kept]
