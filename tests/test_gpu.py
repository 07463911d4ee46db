"""The device settings' GPU paths: decoding, reward scoring and training, fine-tuning. Skipped without CUDA."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from asasql_resources.models.decode import decode
from asasql_resources.models.sampling import Sampling
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.finetune import save_sft_adapter, train_sft
from asasql_resources.nl2sql.predict import predict_sql
from asasql_resources.reward.model import RewardSettings, load_reward_model
from asasql_resources.reward.training import REWARD_TRAINING, train_reward_model
from tests import test_decode, test_reward_training, test_sft

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
TEXTS = ["Schema: hosts(id, zone)\nQ: count hosts", "Schema: hosts(id, zone)\nQ: list the zones", "Q: y"]


def test_decode_on_the_gpu_matches_generate_there(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = test_decode._random_model(tiny_model, std=0.2, seed=1).to("cuda")  # answers that repeat: drafts kept
    prompts = [tokenizer(text)["input_ids"] for text in TEXTS]
    stop = torch.tensor([tokenizer.eos_token_id])
    with torch.inference_mode():
        alone = [
            model.generate(torch.tensor([p], device="cuda"), max_new_tokens=12, do_sample=False, pad_token_id=0)[
                0, len(p) :
            ].tolist()
            for p in prompts
        ]
        batched = decode(model, prompts, Sampling(max_new_tokens=12), stop, 0)
        lone = decode(model, prompts[:1], Sampling(max_new_tokens=12), stop, 0)  # a lone row checks lookup drafts
    expected = [full[: next((i for i, t in enumerate(full) if t in stop.tolist()), len(full))] for full in alone]
    assert batched == expected and lone == expected[:1]


def test_reward_model_scores_and_trains_on_the_gpu(tiny_model: Path) -> None:
    handle = load_reward_model(RewardSettings(base=str(tiny_model), max_length=96), device="cuda")
    assert handle.device.type == "cuda" and all(p.device.type == "cuda" for p in handle.model.parameters())
    examples = test_reward_training.toy_examples()
    report = train_reward_model(handle, examples, replace(REWARD_TRAINING, epochs=1, learning_rate=5e-3, batch_size=8))
    scores = handle.score(test_reward_training.pairs(examples))
    assert math.isfinite(report.train_loss) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()


def test_nl2sql_fine_tunes_and_answers_on_the_gpu(tiny_model: Path, tmp_path: Path) -> None:
    examples = test_sft.toy_examples()
    model, tokenizer, report = train_sft(tiny_model, examples, replace(test_sft.FAST, epochs=1), device="cuda")
    assert math.isfinite(report.train_loss) and {p.device.type for p in model.parameters()} == {"cuda"}
    folder = save_sft_adapter(model, tokenizer, tmp_path / "nl2sql", tiny_model, test_sft.FAST, report, "v1")
    merged, tokenizer = Nl2SqlBase(model=str(tiny_model), device="cuda").load(folder)
    assert {p.device.type for p in merged.parameters()} == {"cuda"}
    answers = predict_sql(
        merged, tokenizer, [prompt for prompt, _ in examples[:3]], dialect="duckdb", max_new_tokens=16
    )
    assert len(answers) == 3
