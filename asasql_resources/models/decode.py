"""A batched decode loop: a shared prompt prefix computed once, prefill in length groups, finished rows dropped,
and decode steps with packed Linear weights on the CPU."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from transformers import Cache, PreTrainedModel, PreTrainedTokenizerBase

from asasql_resources.models.packed import packed_linears
from asasql_resources.models.sampling import Sampling

PREFILL_ROWS = 8  # prompts per prefill forward: enough tokens for efficient matmuls, little padding
ROOM = 64  # free positions the cache starts with and grows by when full
# A decode step's fixed cost (reading every weight once: about 77 ms at batch 1 on the 2-core CPU) in prompt
# tokens of prefill (about 2.5 ms each there): what one more batch costs per token it generates.
STEP_IN_PREFILL_TOKENS = 32


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


def prefix_batches(prompts: Sequence[Sequence[int]], size: int, new_tokens: int) -> list[list[int]]:
    """Prompt indices in batches of at most `size` that share long prefixes, so that prefill computes them once.

    A prompt starts a new batch when joining would cost more prefill than one more batch's decode steps
    (`new_tokens`, each worth STEP_IN_PREFILL_TOKENS): see `prefix_groups`.
    """
    return prefix_groups(prompts, size, new_tokens * STEP_IN_PREFILL_TOKENS)


def prefix_groups(prompts: Sequence[Sequence[int]], size: int, slack: int, floor: int = 0) -> list[list[int]]:
    """Prompt indices in groups of at most `size`, in lexicographic order, where prompts with a common start sit.

    The next prompt joins the last group when the prefill joining costs (the start the members would no longer
    share, less the start it shares with them beyond `floor` tokens) is at most `slack` tokens.
    """
    order = sorted(range(len(prompts)), key=lambda i: list(prompts[i]))
    groups: list[list[int]] = []
    shared = 0
    for index in order:
        if groups and len(groups[-1]) < size:
            common = min(shared, len(os.path.commonprefix([prompts[groups[-1][-1]], prompts[index]])))
            if (len(groups[-1]) - 1) * (shared - common) - (common - floor) <= slack:
                groups[-1].append(index)
                shared = common
                continue
        groups.append([index])
        shared = len(prompts[index])
    return groups


@dataclass(frozen=True)
class PrefillPlan:
    """Which prompt starts prefill computes once, and the cache column where each prompt's tokens go.

    Columns: the `shared` start of every prompt; then, for a prompt in a run (prompts sharing more than that),
    the run's start up to `starts[i]`; then padding; then the prompt's own tokens, right-aligned to end at
    `shared + width`. Run starts take at most `head` columns, so own tokens never overlap them.
    """

    shared: int
    starts: list[int]
    runs: list[list[int]]
    order: list[int]
    width: int

    @classmethod
    def of(cls, prompts: Sequence[Sequence[int]]) -> "PrefillPlan":
        """The plan for prompts: runs found by `prefix_groups`, cache rows ordered by own-part length."""
        shared = min(len(os.path.commonprefix(list(prompts))), min(len(p) for p in prompts) - 1)
        starts, runs = [shared] * len(prompts), []
        for group in prefix_groups(prompts, len(prompts), -1, shared):
            members = [prompts[i] for i in group]
            common = min(len(os.path.commonprefix(members)), min(len(p) for p in members) - 1)
            if len(group) > 1 and common > shared:
                runs.append(group)
                for i in group:
                    starts[i] = common
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) - starts[i])
        own = max(len(p) - s for p, s in zip(prompts, starts))
        return cls(shared, starts, runs, order, max(starts) - shared + own)

    @property
    def head(self) -> int:
        """Columns after `shared` that run starts may take."""
        return max(self.starts) - self.shared

    def own_groups(self) -> list[list[int]]:
        """Cache rows in prefill groups of PREFILL_ROWS, by own-part length."""
        rows = list(range(len(self.order)))
        return [rows[first : first + PREFILL_ROWS] for first in range(0, len(rows), PREFILL_ROWS)]

    def tokens(self, prompts: Sequence[Sequence[int]]) -> int:
        """Prompt tokens prefill computes, padding included."""
        runs = [self.starts[run[0]] - self.shared for run in self.runs]
        own = [len(prompts[i]) - self.starts[i] for i in self.order]
        return (
            self.shared
            + len(runs) * max(runs, default=0)
            + sum(max(own[row] for row in group) * len(group) for group in self.own_groups())
        )


def next_tokens(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """Greedy argmax, or a draw after temperature scaling and nucleus (top_p) filtering."""
    if sampling.greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs > sampling.top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


class ReservedCache(Cache):
    """Keys and values in buffers with room to spare: a forward writes its positions at column `at` of `rows`."""

    def __init__(self, batch: int, capacity: int):
        """Empty buffers are made on the first write to each layer, `batch` rows by `capacity` positions."""
        super().__init__(layers=[])
        self.batch, self.capacity = batch, capacity
        self.buffers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.rows, self.at = slice(None), 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write new keys and values at column `at` of `rows`; return those rows' keys and values up to them."""
        if layer_idx == len(self.buffers):
            shape = (self.batch, key_states.shape[1], self.capacity, key_states.shape[-1])
            self.buffers.append((key_states.new_zeros(shape), value_states.new_zeros(shape)))
        keys, values = self.buffers[layer_idx]
        end = self.at + key_states.shape[-2]
        keys[self.rows, :, self.at : end] = key_states
        values[self.rows, :, self.at : end] = value_states
        return keys[self.rows, :, :end], values[self.rows, :, :end]

    def share(self, source: int, rows: torch.Tensor | slice, start: int, end: int) -> None:
        """Copy row `source`'s positions start..end to `rows` (a prompt start those rows have in common)."""
        for keys, values in self.buffers:
            keys[rows, :, start:end] = keys[source : source + 1, :, start:end]
            values[rows, :, start:end] = values[source : source + 1, :, start:end]

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

    def grow(self, capacity: int) -> None:
        """Move the buffers into new ones of `capacity` positions (the first `at` copied over)."""
        self.capacity = capacity
        self.buffers = [(self._grown(keys), self._grown(values)) for keys, values in self.buffers]

    def _grown(self, buffer: torch.Tensor) -> torch.Tensor:
        """A buffer in a new one of the current capacity, holding the first `at` positions."""
        new = buffer.new_empty((buffer.shape[0], buffer.shape[1], self.capacity, buffer.shape[-1]))
        new[:, :, : self.at] = buffer[:, :, : self.at]
        return new


def attention_mask(model: PreTrainedModel, allowed: torch.Tensor) -> torch.Tensor:
    """A 4D mask in the form the model's attention takes: boolean for SDPA, additive otherwise."""
    if model.config._attn_implementation == "sdpa":
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
) -> torch.Tensor:
    """Last-position logits of `ids` written at column `at` of the cache's `rows`, which attend to `allowed` columns."""
    end = at + ids.shape[1]
    cache.rows, cache.at = rows, at
    causal = torch.arange(end, device=ids.device)[None, :] <= torch.arange(at, end, device=ids.device)[:, None]
    mask = attention_mask(model, allowed[:, None, None, :end] & causal)
    positions = (allowed[:, :end].cumsum(-1)[:, at:] - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=1)
    return out.logits[:, -1, :]


def padded(rows: Sequence[Sequence[int]], pad_id: int, left: bool, device: torch.device) -> torch.Tensor:
    """Token rows padded with `pad_id` to the longest, on the left or the right."""
    longest = max(len(row) for row in rows)
    fills = [[pad_id] * (longest - len(row)) for row in rows]
    padded_rows = [fill + list(row) if left else list(row) + fill for fill, row in zip(fills, rows)]
    return torch.tensor(padded_rows, device=device)


def prefill(
    model: PreTrainedModel, prompts: list[list[int]], pad_id: int, room: int
) -> tuple[ReservedCache, torch.Tensor, torch.Tensor, list[int]]:
    """The cache, next-token logits and attended columns per row, and the prompt of each row (`PrefillPlan`).

    The start all prompts share is computed once and copied to every row; so is each run's longer start,
    all runs in one forward; then each prompt's own tokens, PREFILL_ROWS prompts at a time.
    """
    plan = PrefillPlan.of(prompts)
    shared, end, device = plan.shared, plan.shared + plan.width, model.device
    row_of = {prompt: row for row, prompt in enumerate(plan.order)}
    cache = ReservedCache(len(prompts), end + room)
    allowed = torch.zeros(len(prompts), cache.capacity, dtype=torch.bool, device=device)
    allowed[:, :shared] = True
    allowed[:, end:] = True
    for row, prompt in enumerate(plan.order):
        allowed[row, shared : plan.starts[prompt]] = True
        allowed[row, end - (len(prompts[prompt]) - plan.starts[prompt]) : end] = True
    if shared:
        forward(model, cache, torch.tensor([prompts[0][:shared]], device=device), allowed[:1], slice(0, 1), 0)
        cache.share(0, slice(1, None), 0, shared)
    if plan.runs:
        firsts = torch.tensor([row_of[run[0]] for run in plan.runs], device=device)
        starts = [prompts[run[0]][shared : plan.starts[run[0]]] for run in plan.runs]
        forward(model, cache, padded(starts, pad_id, False, device), allowed[firsts], firsts, shared)
        for run in plan.runs:
            others = torch.tensor([row_of[i] for i in run[1:]], device=device)
            cache.share(row_of[run[0]], others, shared, plan.starts[run[0]])
    logits = []
    for group in plan.own_groups():
        own = [prompts[plan.order[row]][plan.starts[plan.order[row]] :] for row in group]
        ids = padded(own, pad_id, True, device)
        rows = slice(group[0], group[-1] + 1)
        logits.append(forward(model, cache, ids, allowed[rows], rows, end - ids.shape[1]))
    cache.at = end
    return cache, torch.cat(logits), allowed, plan.order


def decode(
    model: PreTrainedModel,
    prompts: list[list[int]],
    sampling: Sampling,
    stop_ids: torch.Tensor,
    pad_id: int,
    generator: torch.Generator | None = None,
    last_ids: torch.Tensor | None = None,
) -> list[list[int]]:
    """New token ids per prompt, in any order; finished rows leave the batch.

    A row ends at a `stop_ids` token, which is left out, or after a `last_ids` token, which is kept
    (a token that holds a stop string: the caller cuts its text).
    """
    cache, logits, allowed, order = prefill(model, prompts, pad_id, min(ROOM, sampling.max_new_tokens))
    rows = torch.tensor(order, device=model.device)
    stop_ids = stop_ids.to(model.device)
    last_ids = (last_ids if last_ids is not None else torch.tensor([], dtype=torch.long)).to(model.device)
    generated: list[list[int]] = [[] for _ in prompts]
    with packed_linears(model):
        for step in range(sampling.max_new_tokens):
            tokens = next_tokens(logits, sampling, generator)
            stopped = torch.isin(tokens, stop_ids)
            done = stopped | torch.isin(tokens, last_ids)
            for row, token, left_out in zip(rows.tolist(), tokens.tolist(), stopped.tolist()):
                if not left_out:
                    generated[row].append(token)
            if done.all() or step == sampling.max_new_tokens - 1:
                break
            if done.any():
                former = cache.drop(done)
                rows, tokens, allowed = rows[former], tokens[former], allowed[former]
            if cache.at == cache.capacity:
                cache.grow(cache.capacity + ROOM)
                allowed = torch.cat([allowed, allowed.new_ones((len(rows), ROOM))], dim=1)
            logits = forward(model, cache, tokens[:, None], allowed, slice(None), cache.at)
            cache.at += 1
    return generated
