"""Code versions derived from the source they version, so that the UI marks an asset stale when its logic changes.

An asset's code version is a hash of the source of its own module and of every project module (in
`asasql_assets` or `asasql_resources`) that module imports, directly or through others: the code that can change
what the asset computes. It is computed once, at import, from the source files (imports are read with `ast`,
nothing is imported), so it is the same in every process that loads the same files.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

PROJECT_PACKAGES = ("asasql_assets", "asasql_resources")
LENGTH = 16  # hex digits of the sha256 kept


def code_version(*modules: ModuleType | str) -> str:
    """A hash of the source of these modules and of the project modules they import, transitively.

    Pass the asset's own module (`__name__` works during its import). The hash covers each file's path in the
    project and its bytes, in a fixed order.
    """
    return _hash(tuple(sorted({module if isinstance(module, str) else module.__name__ for module in modules})))


@cache
def _hash(modules: tuple[str, ...]) -> str:
    """The code version of these module names (each module's files are read once per process)."""
    names: set[str] = set()
    for module in modules:
        names |= _closure(module)
    digest = hashlib.sha256()
    for name in sorted(names):
        path = _source(name)
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path is not None else b"<no source>")
        digest.update(b"\0")
    return digest.hexdigest()[:LENGTH]


@cache
def _closure(name: str) -> frozenset[str]:
    """The project module `name` and every project module it imports, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or _source(current) is None:
            continue
        seen.add(current)
        todo.extend(_imports(current))
    return frozenset(seen)


@cache
def _imports(name: str) -> frozenset[str]:
    """The project modules that the source of module `name` imports (anywhere in the file), and their packages."""
    path = _source(name)
    assert path is not None
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            # `from package import module` names a module; `from module import name` does not: keep those that exist.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            if parts[0] in PROJECT_PACKAGES:
                # Importing a.b.c runs a/__init__ and a/b/__init__ too.
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(module for module in found if _source(module) is not None)


def _absolute(module: str, level: int, package: str) -> str:
    """The absolute name of a (possibly relative) `from … import` module."""
    if level == 0:
        return module
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join([*base, module] if module else base)


@cache
def _root(package: str) -> Path | None:
    """The folder that holds a top-level project package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).parent


@cache
def _source(name: str) -> Path | None:
    """The source file of project module `name` (a module file or a package's __init__), None when there is none."""
    top = name.split(".")[0]
    root = _root(top) if top in PROJECT_PACKAGES else None
    if root is None:
        return None
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None
