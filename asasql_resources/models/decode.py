"""A batched decode loop: a shared prompt prefix computed once, prefill in length groups, finished rows dropped."""

import os
from collections.abc import Sequence
from functools import lru_cache

import torch
from transformers import Cache, PreTrainedModel, PreTrainedTokenizerBase

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

    Prompts are taken in lexicographic order, where those with a common start sit together. The next prompt
    starts a new batch when joining would cost more prefill (the start the members would no longer share,
    less the start it shares with them) than one more batch's decode steps (`new_tokens`, each worth
    STEP_IN_PREFILL_TOKENS).
    """
    order = sorted(range(len(prompts)), key=lambda i: list(prompts[i]))
    batches: list[list[int]] = []
    shared = 0
    for index in order:
        if batches and len(batches[-1]) < size:
            common = min(shared, len(os.path.commonprefix([prompts[batches[-1][-1]], prompts[index]])))
            if (len(batches[-1]) - 1) * (shared - common) - common <= new_tokens * STEP_IN_PREFILL_TOKENS:
                batches[-1].append(index)
                shared = common
                continue
        batches.append([index])
        shared = len(prompts[index])
    return batches


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

    def share(self, columns: int) -> None:
        """Copy row 0's first `columns` positions to every row (a prompt prefix all rows have in common)."""
        for keys, values in self.buffers:
            keys[1:, :, :columns] = keys[:1, :, :columns]
            values[1:, :, :columns] = values[:1, :, :columns]

    def keep(self, rows: torch.Tensor, capacity: int) -> None:
        """Keep only `rows`, in new buffers of `capacity` positions (the first `at` copied over)."""
        self.batch, self.capacity = len(rows), capacity
        self.buffers = [(self._moved(keys, rows), self._moved(values, rows)) for keys, values in self.buffers]

    def _moved(self, buffer: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """`rows` of a buffer in a new one of the current capacity, holding the first `at` positions."""
        new = buffer.new_empty((len(rows), buffer.shape[1], self.capacity, buffer.shape[-1]))
        new[:, :, : self.at] = buffer[rows, :, : self.at]
        return new


def attention_mask(model: PreTrainedModel, allowed: torch.Tensor) -> torch.Tensor:
    """A 4D mask in the form the model's attention takes: boolean for SDPA, additive otherwise."""
    if model.config._attn_implementation == "sdpa":
        return allowed
    additive = torch.zeros(allowed.shape, dtype=model.dtype, device=allowed.device)
    return additive.masked_fill(~allowed, torch.finfo(model.dtype).min)


def forward(
    model: PreTrainedModel, cache: ReservedCache, ids: torch.Tensor, allowed: torch.Tensor, rows: slice, at: int
) -> torch.Tensor:
    """Last-position logits of `ids` written at column `at` of the cache's `rows`, which attend to `allowed` columns."""
    end = at + ids.shape[1]
    cache.rows, cache.at = rows, at
    causal = torch.arange(end, device=ids.device)[None, :] <= torch.arange(at, end, device=ids.device)[:, None]
    mask = attention_mask(model, allowed[:, None, None, :end] & causal)
    positions = (allowed[:, :end].cumsum(-1)[:, at:] - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=1)
    return out.logits[:, -1, :]


def prefill(
    model: PreTrainedModel, prompts: list[list[int]], pad_id: int, room: int
) -> tuple[ReservedCache, torch.Tensor, torch.Tensor]:
    """The cache, next-token logits and attended columns per row, for prompts sorted by length.

    The cache holds the prefix all prompts share (computed once), then each prompt's own tokens right-aligned,
    computed PREFILL_ROWS prompts at a time, then `room` free positions.
    """
    shared = min(len(os.path.commonprefix(prompts)), min(len(p) for p in prompts) - 1)
    width = max(len(p) for p in prompts) - shared
    cache = ReservedCache(len(prompts), shared + width + room)
    allowed = torch.ones(len(prompts), cache.capacity, dtype=torch.bool, device=model.device)
    for row, prompt in enumerate(prompts):
        padding = width - (len(prompt) - shared)
        allowed[row, shared : shared + padding] = False
    if shared:
        forward(model, cache, torch.tensor([prompts[0][:shared]], device=model.device), allowed[:1], slice(0, 1), 0)
        cache.share(shared)
    logits = []
    for first in range(0, len(prompts), PREFILL_ROWS):
        group = prompts[first : first + PREFILL_ROWS]
        own = max(len(p) for p in group) - shared
        ids = torch.tensor([[pad_id] * (own + shared - len(p)) + p[shared:] for p in group], device=model.device)
        rows = slice(first, first + len(group))
        logits.append(forward(model, cache, ids, allowed[rows], rows, shared + width - own))
    cache.at = shared + width
    return cache, torch.cat(logits), allowed


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
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    cache, logits, allowed = prefill(model, [prompts[i] for i in order], pad_id, min(ROOM, sampling.max_new_tokens))
    rows = torch.tensor(order, device=model.device)
    stop_ids = stop_ids.to(model.device)
    last_ids = (last_ids if last_ids is not None else torch.tensor([], dtype=torch.long)).to(model.device)
    generated: list[list[int]] = [[] for _ in prompts]
    for step in range(sampling.max_new_tokens):
        tokens = next_tokens(logits, sampling, generator)
        stopped = torch.isin(tokens, stop_ids)
        done = stopped | torch.isin(tokens, last_ids)
        for row, token, left_out in zip(rows.tolist(), tokens.tolist(), stopped.tolist()):
            if not left_out:
                generated[row].append(token)
        if done.all() or step == sampling.max_new_tokens - 1:
            break
        full = cache.at == cache.capacity
        if done.any() or full:
            keep = (~done).nonzero().squeeze(1)
            cache.keep(keep, cache.capacity + ROOM * full)
            extra = allowed.new_ones((len(keep), cache.capacity - allowed.shape[1]))
            rows, tokens, allowed = rows[keep], tokens[keep], torch.cat([allowed[keep], extra], dim=1)
        logits = forward(model, cache, tokens[:, None], allowed, slice(None), cache.at)
        cache.at += 1
    return generated
