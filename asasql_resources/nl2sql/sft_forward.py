"""Fine-tuning's forward passes: a prompt start shared by a batch runs once, and a frozen trunk is computed once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from peft import PeftModel
from transformers import PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from asasql_resources.models.decode import attention_mask
from asasql_resources.reward.model import pad_batch

Model = PreTrainedModel | PeftModel


def shared_prefix(sequences: Sequence[list[int]], limit: int) -> int:
    """How many leading tokens every sequence shares (at most limit)."""
    first = sequences[0]
    length = min(min(len(ids) for ids in sequences), limit)
    for ids in sequences[1:]:
        length = next((i for i in range(length) if ids[i] != first[i]), length)
    return length


def causal(model: Model, queries: int, keys: int) -> torch.Tensor:
    """The 4D causal mask of `queries` positions that end the `keys` ones, in the form the model's attention takes."""
    device = model.device
    allowed = torch.arange(keys, device=device)[None, :] <= torch.arange(keys - queries, keys, device=device)[:, None]
    return attention_mask(_causal_lm(model), allowed[None, None])


def shared_start_forward(model: Model, inputs: torch.Tensor, shared: int, **kwargs: object) -> CausalLMOutputWithPast:
    """The forward of right-padded rows whose first `shared` positions are the same, with those run only once.

    `inputs` are token ids ([rows, length]) or input embeddings ([rows, length, hidden]). The shared start runs
    as one row whose keys and values are repeated for every row; gradients flow back through them, so a loss is
    that of the full rows. The masks are explicit and causal (padding is on the right, after every real token),
    and the positions are explicit, so nothing depends on which layers fill the cache.
    """
    key = "input_ids" if inputs.dim() == 2 else "inputs_embeds"
    inputs = inputs.to(model.device)
    rows, length = inputs.shape[:2]
    positions = torch.arange(length, device=model.device)[None, :]
    cache = None
    if shared > 0:
        start = {key: inputs[:1, :shared], "position_ids": positions[:, :shared]}
        mask = causal(model, shared, shared)
        cache = model(**start, attention_mask=mask, use_cache=True, logits_to_keep=1).past_key_values
        cache.batch_repeat_interleave(rows)
    return model(
        **{key: inputs[:, shared:]},
        position_ids=positions[:, shared:].expand(rows, -1),
        attention_mask=causal(model, length - shared, length),
        past_key_values=cache,
        use_cache=cache is not None,
        **kwargs,
    )


class _PassThrough(torch.nn.Module):
    """A decoder layer that returns its input unchanged."""

    def forward(self, hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        """The hidden states as they came in."""
        return hidden_states


def _causal_lm(model: Model) -> PreTrainedModel:
    """The transformers model itself (a peft model's base)."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def decoder_layers(model: Model) -> torch.nn.ModuleList:
    """The model's decoder layers, bottom first."""
    return _causal_lm(model).get_decoder().layers


@contextmanager
def layers_skipped(model: Model, skipped: range) -> Iterator[None]:
    """While inside, the decoder layers whose indices are in `skipped` pass their input through."""
    decoder = _causal_lm(model).get_decoder()
    layers = decoder.layers
    decoder.layers = torch.nn.ModuleList(
        [_PassThrough() if index in skipped else layer for index, layer in enumerate(layers)]
    )
    try:
        yield
    finally:
        decoder.layers = layers


@dataclass(frozen=True)
class Trunk:
    """Each example's hidden states entering decoder layer `depth`: the output of frozen layers, computed once.

    With LoRA on the top layers only, the layers below them have no trainable weight and no dropout, so their
    output for an example is the same in every epoch. Training feeds these states as input embeddings while the
    layers below `depth` pass them through (`layers_skipped`).
    """

    depth: int
    states: list[torch.Tensor]

    def embeds(self, batch: Sequence[int], length: int) -> torch.Tensor:
        """The batch's states right-padded with zeros to `length` positions: [rows, length, hidden]."""
        first = self.states[batch[0]]
        padded = first.new_zeros((len(batch), length, first.shape[-1]))
        for row, index in enumerate(batch):
            padded[row, : len(self.states[index])] = self.states[index]
        return padded


def compute_trunk(model: Model, sequences: Sequence[list[int]], depth: int, batch_size: int, pad: int) -> Trunk:
    """The Trunk of `sequences` (token ids), the layers from `depth` on skipped, in batches by length."""
    layers = decoder_layers(model)
    captured: list[torch.Tensor] = []
    hook = layers[depth - 1].register_forward_hook(
        lambda module, args, output: captured.append(output[0] if isinstance(output, tuple) else output)
    )
    states: list[torch.Tensor] = [torch.empty(0)] * len(sequences)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    try:
        with torch.no_grad(), layers_skipped(model, range(depth, len(layers))):
            for begin in range(0, len(order), batch_size):
                members = order[begin : begin + batch_size]
                rows = [sequences[i] for i in members]
                start = shared_prefix(rows, min(len(ids) for ids in rows) - 1) if len(rows) > 1 else 0
                captured.clear()
                shared_start_forward(model, pad_batch(rows, pad)[0], start, logits_to_keep=1)
                for row, index in enumerate(members):
                    own = captured[-1][row, : len(sequences[index]) - start]
                    states[index] = torch.cat([captured[0][0], own]) if start else own.clone()
    finally:
        hook.remove()
    return Trunk(depth, states)
