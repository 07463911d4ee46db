"""LoRA adapters on disk: peft weights, tokenizer and a manifest, swapped into place atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import polars as pl
from peft import PeftModel
from transformers import PreTrainedTokenizerBase

from asasql_resources.warehouse import content_hash

MANIFEST_NAME = "manifest.json"
AdapterKind = Literal["reward", "nl2sql"]


class AdapterBaseMismatch(ValueError):
    """An adapter was trained on another base model than the one configured."""


class HoldsPeftModel(Protocol):
    """Anything that carries a peft model, such as a RewardModelHandle."""

    model: PeftModel


def utc_now_iso() -> str:
    """The current UTC time as an ISO 8601 string, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AdapterManifest:
    """What an adapter is: its kind, the base it was trained on, its settings, data version and metrics."""

    kind: AdapterKind
    base_identity: str
    settings: dict[str, Any]
    data_version: str
    created_at: str = field(default_factory=utc_now_iso)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a kind that no loader knows."""
        if self.kind not in get_args(AdapterKind):
            raise ValueError(f"adapter kind must be one of {get_args(AdapterKind)}, got {self.kind!r}")

    def to_json(self) -> str:
        """The manifest as indented JSON."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AdapterManifest:
        """Parse a manifest written by to_json; unknown or missing keys raise ValueError."""
        data = json.loads(text)
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"not an adapter manifest: {exc}") from None


def load_manifest(folder: Path) -> AdapterManifest:
    """Read the manifest of the adapter saved in folder."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a saved adapter (no {MANIFEST_NAME})")
    try:
        return AdapterManifest.from_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def check_adapter_base(folder: Path, manifest: AdapterManifest, base_identity: str, kind: AdapterKind) -> None:
    """Raise unless the adapter in folder is of this kind and was trained on this base."""
    if manifest.kind != kind:
        raise ValueError(f"{folder}: a {manifest.kind!r} adapter, but a {kind!r} adapter is needed")
    if manifest.base_identity != base_identity:
        raise AdapterBaseMismatch(
            f"{folder}: the adapter was trained on base {manifest.base_identity!r}, "
            f"but the configured base is {base_identity!r}"
        )


def save_adapter(
    handle_or_model: HoldsPeftModel | PeftModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: Path,
    manifest: AdapterManifest,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write the adapter, tokenizer and manifest to a temporary sibling of folder, then swap it in.

    `extra` writes more files into that sibling before the swap, so they are swapped in with the adapter.
    """
    model = handle_or_model if isinstance(handle_or_model, PeftModel) else handle_or_model.model
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".saving", dir=folder.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        if extra is not None:
            extra(staging)
        swap_in(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def swap_in(staging: Path, folder: Path) -> None:
    """Replace folder by staging; the old folder is moved aside first and restored if the swap fails."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    os.replace(folder, retired)
    try:
        os.replace(staging, folder)
    except BaseException:
        os.replace(retired, folder)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def model_version(examples: pl.DataFrame, settings: Mapping[str, object], base_identity: str) -> str:
    """The identity of a trained adapter: its examples, its settings and its base."""
    payload = json.dumps({"data": content_hash(examples), "settings": settings, "base": base_identity}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
