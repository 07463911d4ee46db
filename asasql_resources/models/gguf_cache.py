"""GGUF models converted once to a safetensors folder, which loads far faster than the GGUF each time."""

import fcntl
import hashlib
import os
import shutil
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from asasql_resources.models.locate import ModelLocation


def model_cache_root() -> Path:
    """$ASASQL_MODEL_CACHE, else ~/.cache/asasql/models."""
    return Path(os.environ.get("ASASQL_MODEL_CACHE") or Path.home() / ".cache" / "asasql" / "models")


def converted_folder(location: ModelLocation, root: Path | None = None) -> Path:
    """Where a GGUF file's conversion lives: keyed by its path, size, mtime and the transformers version."""
    gguf = location.folder / str(location.gguf_file)
    stat = gguf.stat()
    key = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{transformers.__version__}"
    return (root or model_cache_root()) / f"{gguf.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def loadable(location: ModelLocation, root: Path | None = None) -> ModelLocation:
    """The location to load from: a folder as it is; a GGUF converted (dequantized, fp32) once and cached."""
    if location.gguf_file is None:
        return location
    target = converted_folder(location, root)
    if (target / "config.json").is_file():
        return ModelLocation(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            _convert(location, target)
    return ModelLocation(target)


def _convert(location: ModelLocation, target: Path) -> None:
    """Dequantize the GGUF with transformers and save it as safetensors, atomically (temp folder, rename)."""
    tokenizer = AutoTokenizer.from_pretrained(location.folder, gguf_file=location.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(location.folder, gguf_file=location.gguf_file, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are dequantized already; what is saved is plain fp32
    model.config.__dict__.pop("quantization_config", None)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        os.replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
