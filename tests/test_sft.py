"""Tests of NL2SQL fine-tuning: example encoding and truncation, learning, seeding, early stopping, save and merge."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from peft import PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from asasql_resources.models.adapters import AdapterBaseMismatch, load_manifest
from asasql_resources.models.decode import decode
from asasql_resources.models.locate import ModelLocation
from asasql_resources.models.sampling import Sampling
from asasql_resources.nl2sql import finetune as sft
from asasql_resources.nl2sql.finetune import (
    IGNORE_INDEX,
    SftSettings,
    encode_example,
    evaluate,
    fit_prompt,
    load_sft_model,
    merge_and_save,
    pad_id,
    save_sft_adapter,
    stop_ids,
    train_sft,
    turn_end,
)
from asasql_resources.nl2sql.prompt import nl2sql_prompt
from asasql_resources.nl2sql.sft_forward import compute_trunk, decoder_layers, layers_skipped

SCHEMA = "users(name, city, age, price) -- one row per user\norders(id, user_id, amount, status, day)"
COLUMNS = ("name", "city", "age", "price")
FAST = SftSettings(epochs=2, batch_size=4, learning_rate=1e-2, lora_r=4, lora_alpha=8, max_length=128)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def varied_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelLocation:
    """The tiny Llama with embeddings 25 times larger, so that a LoRA can move its logits and greedy ties are rare."""
    folder = tmp_path_factory.mktemp("varied-llama")
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(25)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return ModelLocation(folder)


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> PreTrainedTokenizerBase:
    """SmolLM2's tokenizer and chat template."""
    return AutoTokenizer.from_pretrained(tiny_model)


def toy_examples() -> list[tuple]:
    """12 (prompt, SQL) pairs: one column of users per question, three wordings each."""
    wordings = ("Show the {} of users", "List every user's {}", "What is the {} of each user?")
    return [
        (nl2sql_prompt(SCHEMA, wording.format(column), "duckdb"), f"SELECT {column} FROM users")
        for column in COLUMNS
        for wording in wordings
    ]


def sql_loss(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, examples: list[tuple]) -> float:
    """Mean loss per SQL token of a model on examples."""
    encoded = [encode_example(tokenizer, prompt, sql, 128) for prompt, sql in examples]
    return evaluate(model, encoded, range(len(encoded)), 4, pad_id(tokenizer))


def lora_weights(model: PeftModel) -> dict[str, torch.Tensor]:
    """Copies of the trainable weights."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def test_encode_masks_the_prompt_and_keeps_the_sql_and_end_token(tokenizer: PreTrainedTokenizerBase) -> None:
    prompt, sql = toy_examples()[0]
    input_ids, labels = encode_example(tokenizer, prompt, sql, 512)
    answer = [token for token in labels if token != IGNORE_INDEX]
    rendered = tokenizer.apply_chat_template(prompt.messages(), add_generation_prompt=True, tokenize=False)
    assert len(input_ids) == len(labels)
    assert labels[: len(input_ids) - len(answer)] == [IGNORE_INDEX] * (len(input_ids) - len(answer))
    assert input_ids[-len(answer) :] == answer
    assert tokenizer.decode(input_ids[: -len(answer)]) == rendered
    assert tokenizer.decode(answer) == f"{sql}<|im_end|>"


def test_the_end_token_stops_generation(tiny_model: Path, tokenizer: PreTrainedTokenizerBase) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    end = tokenizer(turn_end(tokenizer), add_special_tokens=False)["input_ids"]
    assert turn_end(tokenizer) == "<|im_end|>" and len(end) == 1
    assert end[0] in stop_ids(model, tokenizer).tolist()


def test_truncation_cuts_the_schema_context_and_keeps_the_question_and_sql(tokenizer: PreTrainedTokenizerBase) -> None:
    long_schema = "\n".join(f"table_{i}(a_{i}, b_{i}, c_{i}) -- filler description number {i}" for i in range(40))
    prompt = nl2sql_prompt(long_schema, "How many users live in Paris?", "duckdb")
    sql = "SELECT count(*) FROM users WHERE city = 'Paris'"
    full, _ = encode_example(tokenizer, prompt, sql, 4096)
    input_ids, labels = encode_example(tokenizer, prompt, sql, 120)
    text = tokenizer.decode(input_ids)
    assert len(full) > 120 >= len(input_ids) >= 110
    assert tokenizer.decode([t for t in labels if t != IGNORE_INDEX]) == f"{sql}<|im_end|>"
    assert text.startswith("<|im_start|>system\nYou translate questions into one DuckDB SQL query.")
    assert "table_0(a_0" in text and "table_39" not in text
    assert text.endswith(
        f"\n\nQuestion: How many users live in Paris?\nSQL:<|im_end|>\n<|im_start|>assistant\n{sql}<|im_end|>"
    )


def test_a_prompt_without_a_context_is_cut_from_its_start(tokenizer: PreTrainedTokenizerBase) -> None:
    prompt = nl2sql_prompt("", "word " * 100, "duckdb")
    assert len(fit_prompt(tokenizer, prompt, 30)) == 30


def test_an_sql_longer_than_max_length_is_refused(tokenizer: PreTrainedTokenizerBase) -> None:
    prompt, _ = toy_examples()[0]
    with pytest.raises(ValueError, match="leaving no room for the prompt"):
        encode_example(tokenizer, prompt, "SELECT " + ", ".join(f"c{i}" for i in range(40)) + " FROM t", 32)


def test_no_examples_is_a_clear_error(varied_model: ModelLocation) -> None:
    with pytest.raises(ValueError, match="no .* examples to fine-tune"):
        train_sft(varied_model, [], FAST)


@pytest.mark.parametrize(
    ("field", "value"), [("epochs", 0), ("learning_rate", 0.0), ("lora_dropout", 1.0), ("dtype", "float8")]
)
def test_settings_that_cannot_train_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"SftSettings.{field}"):
        replace(FAST, **{field: value})


def test_training_lowers_the_sql_loss_and_reports(
    varied_model: ModelLocation, tokenizer: PreTrainedTokenizerBase
) -> None:
    examples = toy_examples()
    before = sql_loss(AutoModelForCausalLM.from_pretrained(varied_model.folder), tokenizer, examples)
    lines: list[str] = []
    model, _, report = train_sft(varied_model, examples, FAST, lines.append)
    assert sql_loss(model, tokenizer, examples) < before - 1
    assert (report.n_train, report.n_val, report.metrics_split) == (11, 1, "val")
    assert report.epochs_run == len(report.history) == 2 and not model.training
    assert lines[-1].startswith("epoch 2/2: train_loss") and "val_loss" in lines[-1]
    assert report.as_metadata()["history"][0]["epoch"] == 1


def test_training_is_seeded(varied_model: ModelLocation) -> None:
    settings = replace(FAST, epochs=1)
    first, _, report_a = train_sft(varied_model, toy_examples(), settings)
    second, _, report_b = train_sft(varied_model, toy_examples(), settings)
    third, _, _ = train_sft(varied_model, toy_examples(), replace(settings, seed=1))
    weights_a, weights_b, weights_c = lora_weights(first), lora_weights(second), lora_weights(third)
    assert [h["val_loss"] for h in report_a.history] == [h["val_loss"] for h in report_b.history]
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    assert not all(torch.equal(weights_a[name], weights_c[name]) for name in weights_a)


def test_early_stopping_restores_the_best_epoch(varied_model: ModelLocation, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = iter([5.0, 4.0, 4.5, 3.0])
    snapshots: list[dict[str, torch.Tensor]] = []

    def scripted_evaluate(model: PeftModel, *args: object) -> float:
        snapshots.append(lora_weights(model))
        return next(scripted)

    monkeypatch.setattr(sft, "evaluate", scripted_evaluate)
    model, _, report = train_sft(varied_model, toy_examples(), replace(FAST, epochs=4, patience=1))
    assert (report.epochs_run, report.best_epoch, report.val_loss) == (3, 2, 4.0)
    restored = lora_weights(model)
    assert all(torch.equal(restored[name], snapshots[1][name]) for name in restored)
    assert not all(torch.equal(restored[name], snapshots[2][name]) for name in restored)


def test_with_a_score_the_best_answering_epoch_is_kept_whatever_its_loss(varied_model: ModelLocation) -> None:
    scripted = iter([0.25, 0.5, 0.5, 0.25])  # epoch 3 ties epoch 2 on EX: the lower loss decides
    snapshots: list[dict[str, torch.Tensor]] = []

    def score(model: PeftModel, tokenizer: PreTrainedTokenizerBase) -> float:
        assert not model.training, "an epoch is scored as it will answer: in eval mode"
        snapshots.append(lora_weights(model))
        return next(scripted)

    settings = replace(FAST, epochs=4, patience=2)
    model, _, report = train_sft(varied_model, toy_examples(), settings, score=score)
    losses = [record["val_loss"] for record in report.history]
    assert [record["val_ex"] for record in report.history] == [0.25, 0.5, 0.5, 0.25]
    expected = 3 if losses[2] < losses[1] - settings.min_delta else 2
    assert (report.best_epoch, report.val_ex) == (expected, 0.5)
    restored = lora_weights(model)
    assert all(torch.equal(restored[name], snapshots[expected - 1][name]) for name in restored)
    assert report.as_metadata()["val_ex"] == 0.5


@pytest.fixture(scope="module")
def trained(varied_model: ModelLocation) -> tuple[PeftModel, PreTrainedTokenizerBase, sft.SftReport]:
    """A LoRA trained one epoch on the toy task."""
    return train_sft(varied_model, toy_examples(), replace(FAST, epochs=1))


def test_saved_adapter_loads_with_the_same_logits(trained: tuple, varied_model: ModelLocation, tmp_path: Path) -> None:
    model, tokenizer, report = trained
    folder = save_sft_adapter(model, tokenizer, tmp_path / "nl2sql", varied_model, FAST, report, "v1")
    manifest = load_manifest(folder)
    assert (manifest.kind, manifest.base_identity, manifest.data_version) == ("nl2sql", varied_model.identity, "v1")
    assert manifest.settings["learning_rate"] == FAST.learning_rate and manifest.metrics["n_train"] == 11
    loaded, _ = load_sft_model(varied_model, folder)
    input_ids = torch.tensor([encode_example(tokenizer, *toy_examples()[0], 128)[0]])
    with torch.inference_mode():
        torch.testing.assert_close(loaded(input_ids).logits, model(input_ids).logits, rtol=1e-4, atol=1e-4)
    with pytest.raises(AdapterBaseMismatch):
        load_sft_model(ModelLocation(tmp_path / "another-base"), folder)


def test_merged_weights_load_and_decode_the_same(trained: tuple, tmp_path: Path) -> None:
    model, tokenizer, _ = trained
    before = lora_weights(model)
    folder = merge_and_save(model, tokenizer, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    assert all(torch.equal(before[name], p) for name, p in lora_weights(model).items())
    prompts = [fit_prompt(tokenizer, prompt, 256) for prompt, _ in toy_examples()[::3]]
    sampling = Sampling(max_new_tokens=8)
    with torch.inference_mode():
        ours = decode(model, prompts, sampling, stop_ids(model, tokenizer), pad_id(tokenizer))
        theirs = decode(merged, prompts, sampling, stop_ids(merged, tokenizer), pad_id(tokenizer))
    assert ours == theirs and all(ours)
    assert AutoTokenizer.from_pretrained(folder).chat_template == tokenizer.chat_template


def test_the_shared_prompt_start_runs_once_with_the_same_loss_and_gradients(
    varied_model: ModelLocation, tokenizer: PreTrainedTokenizerBase
) -> None:
    model, _ = sft.fresh_base(varied_model, "float32")
    model = get_peft_model(model, replace(FAST, lora_dropout=0.0).lora_config(model))
    encoded = [encode_example(tokenizer, prompt, sql, 128) for prompt, sql in toy_examples()[:6]]
    batch = list(range(6))
    assert sft.shared_prefix([ids for ids, _ in encoded], 1000) > 20, "the system turn and schema are shared"
    results = []
    for share in (True, False):
        model.zero_grad()
        with pytest.MonkeyPatch.context() as patch:
            if not share:
                patch.setattr(sft, "shared_prefix", lambda sequences, limit: 0)
            loss, tokens = sft.batch_loss(model, encoded, batch, pad_id(tokenizer))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((loss.item(), tokens, grads))
    (shared_loss, shared_tokens, shared_grads), (full_loss, full_tokens, full_grads) = results
    assert shared_tokens == full_tokens and shared_loss == pytest.approx(full_loss, rel=1e-5)
    assert shared_grads.keys() == full_grads.keys()
    assert all(torch.allclose(shared_grads[n], full_grads[n], atol=1e-6) for n in shared_grads)


def test_a_frozen_trunk_computed_once_gives_the_same_loss_and_gradients(
    varied_model: ModelLocation, tokenizer: PreTrainedTokenizerBase
) -> None:
    settings = replace(FAST, lora_dropout=0.0, lora_layers=1)
    model, _ = sft.fresh_base(varied_model, "float32")
    model = get_peft_model(model, settings.lora_config(model))
    depth = settings.frozen_layers(model)
    assert depth == 1, "the tiny Llama has 2 layers; LoRA on the top one leaves one frozen"
    encoded = [encode_example(tokenizer, prompt, sql, 128) for prompt, sql in toy_examples()[:6]]
    layers = list(decoder_layers(model))
    # computed in other batches (by length, 4 and 2) than the one trained on: the states do not depend on them
    trunk = compute_trunk(model, [ids for ids, _ in encoded], depth, 4, pad_id(tokenizer))
    assert list(decoder_layers(model)) == layers, "the skipped layers are put back"
    batch = [5, 0, 3, 1]
    results = []
    for used in (trunk, None):
        model.zero_grad()
        with layers_skipped(model, range(depth if used else 0)):
            loss, tokens = sft.batch_loss(model, encoded, batch, pad_id(tokenizer), used)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((loss.item(), tokens, grads))
    (trunk_loss, trunk_tokens, trunk_grads), (full_loss, full_tokens, full_grads) = results
    assert trunk_tokens == full_tokens and trunk_loss == pytest.approx(full_loss, rel=1e-5)
    assert trunk_grads.keys() == full_grads.keys() and trunk_grads
    assert all(torch.allclose(trunk_grads[n], full_grads[n], atol=1e-6) for n in trunk_grads)


def test_training_with_the_frozen_trunk_matches_training_without_it(varied_model: ModelLocation) -> None:
    settings = replace(FAST, lora_dropout=0.0, lora_layers=1)
    reports = [
        train_sft(varied_model, toy_examples(), replace(settings, frozen_trunk=used))[2] for used in (True, False)
    ]
    for with_trunk, without in zip(reports[0].history, reports[1].history, strict=True):
        assert with_trunk["train_loss"] == pytest.approx(without["train_loss"], rel=1e-4)
        assert with_trunk["val_loss"] == pytest.approx(without["val_loss"], rel=1e-4)


def test_lora_on_the_top_layers_adapts_only_those(varied_model: ModelLocation) -> None:
    model, _, report = train_sft(varied_model, toy_examples(), replace(FAST, epochs=1, lora_layers=1))
    adapted = {name.split(".layers.")[1].split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert adapted == {"1"}, "the tiny Llama has layers 0 and 1; only the top one is adapted"
    assert report.epochs_run == 1
    with pytest.raises(ValueError, match="SftSettings.lora_layers"):
        replace(FAST, lora_layers=0)
