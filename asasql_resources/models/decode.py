"""A batched decode loop that drops finished rows, so no compute goes to sequences that already ended."""

import torch
from transformers import DynamicCache, PreTrainedModel

from asasql_resources.models.sampling import Sampling


def eos_ids(model: PreTrainedModel, fallback: int) -> torch.Tensor:
    """The token ids that end a sequence, from the generation config (one id or a list)."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured if configured is not None else fallback]
    return torch.tensor(ids)


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


def decode(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    sampling: Sampling,
    stop_ids: torch.Tensor,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """New token ids per row of a left-padded batch (stop tokens left out); finished rows leave the batch."""
    cache = DynamicCache(config=model.config)
    rows = torch.arange(input_ids.shape[0])
    generated: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits[:, -1, :]
    for step in range(sampling.max_new_tokens):
        tokens = next_tokens(logits, sampling, generator)
        done = torch.isin(tokens, stop_ids)
        for row, token, finished in zip(rows.tolist(), tokens.tolist(), done.tolist()):
            if not finished:
                generated[row].append(token)
        if done.all() or step == sampling.max_new_tokens - 1:
            break
        if done.any():
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, tokens, attention_mask = rows[keep], tokens[keep], attention_mask[keep]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=1)
        logits = model(
            input_ids=tokens[:, None],
            attention_mask=attention_mask,
            position_ids=attention_mask.sum(-1, keepdim=True) - 1,
            past_key_values=cache,
            use_cache=True,
        ).logits[:, -1, :]
    return generated
