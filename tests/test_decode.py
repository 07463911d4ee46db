"""The row-dropping decode loop gives what transformers' own generate gives."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from asasql_resources.models.decode import decode, eos_ids, next_tokens
from asasql_resources.models.sampling import Sampling


def test_greedy_decode_matches_generate(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    texts = ["SELECT count(*) FROM", "a much longer prompt about hosts and zones and tenants", "hi"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    stop = eos_ids(model, tokenizer.eos_token_id)
    with torch.inference_mode():
        ours = decode(model, batch["input_ids"], batch["attention_mask"], Sampling(max_new_tokens=12), stop)
        theirs = model.generate(**batch, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    for row, ids in enumerate(ours):
        expected = [t for t in theirs[row, batch["input_ids"].shape[1] :].tolist() if t not in stop.tolist()]
        assert ids == expected[: len(ids)] and len(ids) == len(expected)


def test_greedy_picks_the_argmax() -> None:
    logits = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0]])
    assert next_tokens(logits, Sampling(), None).tolist() == [1, 0]


def test_top_p_keeps_the_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    generator = torch.Generator().manual_seed(0)
    draws = {next_tokens(logits, Sampling(temperature=1.0, top_p=0.75), generator).item() for _ in range(200)}
    assert draws == {0, 1}
