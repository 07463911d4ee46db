"""The Embedder Dagster resource: sentence-transformers from a local folder, L2-normalised float32 vectors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
from pydantic import Field

from asasql_resources.models.devices import resolve_device
from asasql_resources.models.locate import ModelNotFound, bundled_embedder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SETTING = "ASASQL_EMBED_MODEL"
DEVICE_SETTING = "ASASQL_EMBED_DEVICE"

_MODELS: dict[tuple[str, str], SentenceTransformer] = {}
_MODELS_LOCK = threading.Lock()


def resolve_embedder(setting: str) -> Path:
    """The model folder of a setting: "" or "bundled" is all-MiniLM-L6-v2, else a local sentence-transformers folder."""
    if setting in ("", "bundled"):
        return bundled_embedder()
    path = Path(setting).expanduser()
    if not path.is_dir():
        raise ModelNotFound(f"{SETTING}={setting!r}: no such folder")
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise ModelNotFound(
            f"{SETTING}={setting!r}: not a sentence-transformers folder (no modules.json or config.json)"
        )
    return path.resolve()


def load_sentence_transformer(folder: Path, device: str, setting: str) -> SentenceTransformer:
    """The SentenceTransformer in `folder` on `device`, loaded once per process and shared."""
    key = (str(folder), device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from sentence_transformers import SentenceTransformer

            try:
                model = SentenceTransformer(str(folder), device=device, local_files_only=True)
            except (OSError, ValueError) as error:
                raise ModelNotFound(f"{SETTING}={setting!r}: cannot load {folder}: {error}") from error
            _MODELS[key] = model.eval()
        return _MODELS[key]


class Embedder(dg.ConfigurableResource):
    """Sentence embeddings for deduplication, clustering and retrieval; vectors are L2-normalised float32."""

    model: str = Field(
        default="",
        description=(
            "A local sentence-transformers folder (e.g. bge-large-zh-v1.5 for Chinese); empty means the bundled "
            "all-MiniLM-L6-v2. Env ASASQL_EMBED_MODEL. Never downloaded from a hub."
        ),
    )
    query_instruction: str = Field(
        default="",
        description=(
            "Text put before each query (encode(..., is_query=True)), never before documents. bge-*-zh-v1.5 "
            "retrieves best with '为这个句子生成表示以用于检索相关文章：'; all-MiniLM-L6-v2 wants none. "
            "Env ASASQL_EMBED_QUERY_INSTRUCTION."
        ),
    )
    batch_size: int = Field(default=64, ge=1, description="Sentences per forward pass.")
    device: str = Field(default="cpu", description=f"Torch device: cpu, cuda, cuda:N or mps; env {DEVICE_SETTING}.")

    @property
    def identity(self) -> str:
        """The resolved model folder, a stable name for caches and manifests."""
        return str(resolve_embedder(self.model))

    @property
    def dimension(self) -> int:
        """The length of each vector."""
        dimension = self._sentence_transformer().get_embedding_dimension()
        if dimension is None:
            raise ModelNotFound(f"{SETTING}={self.model!r}: the model does not declare its embedding dimension")
        return dimension

    def encode(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        """L2-normalised float32 rows, shape (len(texts), dimension); queries get query_instruction first."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._sentence_transformer().encode(
            list(texts),
            prompt=self.query_instruction if is_query and self.query_instruction else None,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _sentence_transformer(self) -> SentenceTransformer:
        """The shared SentenceTransformer for this resource's model and device."""
        device = str(resolve_device(self.device, DEVICE_SETTING))
        return load_sentence_transformer(resolve_embedder(self.model), device, self.model)
