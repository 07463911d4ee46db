"""Tests of the reward model's base: loading, batched scoring, truncation and adapters on disk."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import torch

from asasql_resources.models.adapters import (
    MANIFEST_NAME,
    AdapterBaseMismatch,
    AdapterManifest,
    load_manifest,
    save_adapter,
)
from asasql_resources.models.devices import DeviceError
from asasql_resources.models.locate import ModelNotFound
from asasql_resources.reward.model import (
    RewardModel,
    RewardModelHandle,
    RewardSettings,
    encode_pair,
    format_pair,
    load_reward_model,
)

SCHEMA = "users(id INTEGER; name VARCHAR; city VARCHAR)\norders(id INTEGER; user_id INTEGER; amount DOUBLE)"
PAIRS = [
    ("How many users are there?", SCHEMA, "SELECT COUNT(*) FROM users"),
    (
        "Total order amount per city",
        SCHEMA * 3,
        "SELECT u.city, SUM(o.amount) FROM orders o JOIN users u ON u.id = o.user_id GROUP BY u.city",
    ),
    ("Names of users in Paris", "users(id; name; city)", "SELECT name FROM users WHERE city = 'Paris'"),
    ("Largest order", SCHEMA * 2, "SELECT MAX(amount) FROM orders"),
    ("Users without orders", SCHEMA, "SELECT name FROM users WHERE id NOT IN (SELECT user_id FROM orders)"),
]


def manifest_for(handle: RewardModelHandle, data_version: str = "v1") -> AdapterManifest:
    """A reward manifest for handle's base."""
    return AdapterManifest("reward", handle.base_identity, handle.settings.as_dict(), data_version)


def perturb(handle: RewardModelHandle, seed: int) -> None:
    """Give every trainable weight (LoRA and head) random values, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in handle.model.parameters():
            if parameter.requires_grad:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)


@pytest.fixture(scope="module")
def settings(tiny_model: Path) -> RewardSettings:
    """Settings for the tiny Llama, short enough that truncation shows."""
    return RewardSettings(base=str(tiny_model), max_length=96)


@pytest.fixture(scope="module")
def trained(settings: RewardSettings) -> RewardModelHandle:
    """A tiny reward model whose adapter is no longer the identity."""
    handle = load_reward_model(settings)
    perturb(handle, seed=1)
    return handle


def test_format_pair_orders_question_schema_sql() -> None:
    text = format_pair("Q?", "t(a)", "SELECT a FROM t")
    assert text.index("Q?") < text.index("t(a)") < text.index("SELECT a FROM t")
    assert [label in text for label in ("Question:", "Schema:", "SQL:")] == [True, True, True]


def test_fresh_model_scores_a_batch(trained: RewardModelHandle) -> None:
    calls: list[tuple[int, int]] = []
    scores = trained.score(PAIRS, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert scores.shape == (5,) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all() and np.ptp(scores) > 0
    assert calls == [(2, 5), (4, 5), (5, 5)]
    permutation = [3, 0, 4, 2, 1]
    permuted = trained.score([PAIRS[i] for i in permutation], batch_size=2)
    np.testing.assert_allclose(permuted, scores[permutation], atol=1e-5)
    for batch_size in (1, 3, 16):
        np.testing.assert_allclose(trained.score(PAIRS, batch_size=batch_size), scores, atol=1e-5)
    assert trained.score([]).shape == (0,)


def test_fresh_adapters_start_alike(settings: RewardSettings) -> None:
    first, second = load_reward_model(settings), load_reward_model(settings)
    np.testing.assert_array_equal(first.score(PAIRS[:2]), second.score(PAIRS[:2]))
    assert first.model.peft_config["default"].target_modules == {"q_proj", "v_proj"}
    assert "score" in first.model.peft_config["default"].modules_to_save


def test_truncation_cuts_schema_then_question_and_keeps_sql(trained: RewardModelHandle) -> None:
    tokenizer = trained.tokenizer
    question = "Which city has the most users?"
    sql = "SELECT city FROM users GROUP BY city ORDER BY COUNT(*) DESC LIMIT 1"
    ids = encode_pair(tokenizer, question, SCHEMA * 20, sql, max_length=64)
    text = tokenizer.decode(ids)
    assert len(ids) == 64
    assert question in text and text.endswith(sql) and "Schema:" in text
    untouched = tokenizer(format_pair(question, "t(a)", sql))["input_ids"]
    assert encode_pair(tokenizer, question, "t(a)", sql, 64) == untouched
    long_question = "Which city has the most users, counting only those who ordered? " * 10
    text = tokenizer.decode(encode_pair(tokenizer, long_question, SCHEMA, sql, max_length=64))
    assert text.endswith(sql) and "users(" not in text and text.startswith("Question: Which city")
    assert len(trained.encode(*PAIRS[1])) == trained.max_length == 96


def test_adapter_round_trip(trained: RewardModelHandle, settings: RewardSettings, tmp_path: Path) -> None:
    folder = tmp_path / "reward_model" / "round_0"
    manifest = AdapterManifest(
        "reward", trained.base_identity, trained.settings.as_dict(), "abc123", metrics={"auc": 0.75}
    )
    assert save_adapter(trained, trained.tokenizer, folder, manifest) == folder
    assert load_manifest(folder) == manifest
    assert {"adapter_config.json", "adapter_model.safetensors", MANIFEST_NAME} <= {p.name for p in folder.iterdir()}
    loaded = load_reward_model(settings, adapter_dir=folder)
    np.testing.assert_allclose(loaded.score(PAIRS), trained.score(PAIRS), atol=1e-6)
    fresh = load_reward_model(settings)
    assert not np.allclose(fresh.score(PAIRS), trained.score(PAIRS), atol=1e-4)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["round_0"]


def test_manifest_json_round_trip() -> None:
    manifest = AdapterManifest("nl2sql", "/models/base", {"lora_r": 8}, "v7", "2025-01-01T00:00:00+00:00", {"acc": 1})
    assert AdapterManifest.from_json(manifest.to_json()) == manifest
    assert json.loads(manifest.to_json())["kind"] == "nl2sql"
    assert AdapterManifest("reward", "b", {}, "v").created_at.endswith("+00:00")
    with pytest.raises(ValueError, match="kind"):
        AdapterManifest("critic", "b", {}, "v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an adapter manifest"):
        AdapterManifest.from_json('{"kind": "reward"}')


def test_adapter_of_another_base_or_kind_is_refused(
    trained: RewardModelHandle, settings: RewardSettings, tmp_path: Path
) -> None:
    other = AdapterManifest("reward", "/elsewhere/base.gguf", settings.as_dict(), "v1")
    save_adapter(trained, trained.tokenizer, tmp_path / "other", other)
    with pytest.raises(AdapterBaseMismatch) as error:
        load_reward_model(settings, adapter_dir=tmp_path / "other")
    assert "/elsewhere/base.gguf" in str(error.value) and trained.base_identity in str(error.value)
    nl2sql = AdapterManifest("nl2sql", trained.base_identity, settings.as_dict(), "v1")
    save_adapter(trained, trained.tokenizer, tmp_path / "nl2sql", nl2sql)
    with pytest.raises(ValueError, match="'nl2sql' adapter"):
        load_reward_model(settings, adapter_dir=tmp_path / "nl2sql")
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        load_reward_model(settings, adapter_dir=tmp_path)


def test_failed_save_leaves_the_old_adapter(
    trained: RewardModelHandle, settings: RewardSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "round_1"
    save_adapter(trained, trained.tokenizer, folder, manifest_for(trained, "v1"))
    before = trained.score(PAIRS)

    def half_save(save_directory: str, **_: object) -> None:
        (Path(save_directory) / "adapter_model.safetensors").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(trained.model, "save_pretrained", half_save)
    with pytest.raises(OSError, match="disk full"):
        save_adapter(trained, trained.tokenizer, folder, manifest_for(trained, "v2"))
    assert load_manifest(folder).data_version == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["round_1"]
    np.testing.assert_allclose(load_reward_model(settings, adapter_dir=folder).score(PAIRS), before, atol=1e-6)
    monkeypatch.undo()
    save_adapter(trained, trained.tokenizer, folder, manifest_for(trained, "v2"))
    assert load_manifest(folder).data_version == "v2" and [p.name for p in tmp_path.iterdir()] == ["round_1"]


def test_bad_base_names_setting_and_value(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"ASASQL_REWARD_BASE='/nope'"):
        load_reward_model(RewardSettings(base="/nope"))
    garbage = tmp_path / "broken.gguf"
    garbage.write_bytes(b"not a gguf" * 64)
    with pytest.raises(ValueError, match=r"ASASQL_REWARD_BASE='.*broken\.gguf': cannot load .* GGUF"):
        load_reward_model(RewardSettings(base=str(garbage)))
    with pytest.raises(ValueError, match="dtype"):
        RewardSettings(dtype="int8")


def test_resource_mirrors_settings(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASASQL_REWARD_BASE", str(tiny_model))
    resource = RewardModel(base=dg.EnvVar("ASASQL_REWARD_BASE"), max_length=96, batch_size=4)
    with dg.build_resources({"reward": resource}) as resources:
        reward: RewardModel = resources.reward
        assert reward.settings() == RewardSettings(base=str(tiny_model), max_length=96)
        assert reward.load().score(PAIRS[:3], batch_size=reward.batch_size).shape == (3,)
    assert RewardModel().settings() == RewardSettings()


def test_device_setting_places_the_model_and_scores_come_back(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASASQL_REWARD_DEVICE", "cpu")
    resource = RewardModel(base=str(tiny_model), max_length=96, device=dg.EnvVar("ASASQL_REWARD_DEVICE"))
    with dg.build_resources({"reward": resource}) as resources:
        handle = resources.reward.load()
    assert handle.device == torch.device("cpu")
    assert all(p.device == handle.device for p in handle.model.parameters())
    scores = handle.score(PAIRS[:3])
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float32 and scores.shape == (3,)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_unreachable_device_names_the_setting_before_loading(tiny_model: Path) -> None:
    with pytest.raises(DeviceError, match=r"ASASQL_REWARD_DEVICE='cuda': torch .* sees no CUDA device here"):
        RewardModel(base=str(tiny_model), device="cuda").load()
    with pytest.raises(DeviceError, match=r"ASASQL_REWARD_DEVICE='gpu': not a torch device"):
        RewardModel(base=str(tiny_model), device="gpu").load()


@pytest.mark.bundled_model
@pytest.mark.parametrize("base", ["", "embedder"])
def test_bundled_bases_score(base: str) -> None:
    handle = load_reward_model(RewardSettings(base=base))
    scores = handle.score(PAIRS[:4], batch_size=4)
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(handle.score(PAIRS[:4][::-1], batch_size=3), scores[::-1], atol=1e-5)
    ids = encode_pair(handle.tokenizer, "q", SCHEMA * 100, "SELECT 1", handle.max_length)
    assert len(ids) == handle.max_length and handle.tokenizer.decode(ids, skip_special_tokens=True).endswith("1")
    if base == "embedder":
        assert ids[-1] == handle.tokenizer.sep_token_id
        assert handle.model.peft_config["default"].target_modules == {"query", "value"}
