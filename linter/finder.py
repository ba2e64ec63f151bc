"""Finding a project module's file by its dotted name, a file's import identity, and the
digest of its bytes: what the result cache checks, without parsing anything.

Plain standard library (no libcst): a fully cached run uses this and nothing heavier.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

try:  # what hashlib.blake2b is, without hashlib's OpenSSL start-up (a few ms on every run)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - not CPython
    from hashlib import blake2b

__all__ = [
    "ModuleFinder",
    "blake2b",
    "content_digest",
    "import_roots",
    "module_identity",
    "package_chain",
    "read_bytes",
]


def content_digest(data: bytes) -> str:
    """A short, stable fingerprint of a file's bytes (for the result cache)."""
    return blake2b(data, digest_size=16).hexdigest()


def read_bytes(path: str) -> bytes:
    """A file's bytes, through the file descriptor alone: a run reads every file of the
    tree, and ``open()``'s buffered file object costs more than the read of a small file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def import_roots(root: str) -> tuple[str, ...]:
    """The directories project modules are looked up under besides a module's own root:
    the project root and its ``src`` folder, where they exist."""
    return tuple(r for r in (root, os.path.join(root, "src")) if os.path.isdir(r))


def module_identity(
    path: str, chains: dict[str, tuple[tuple[str, ...], str]] | None = None
) -> tuple[str, str, str]:
    """``(dotted name, package, import root)`` of a file, from the ``__init__.py`` chain.

    ``chains`` keeps each directory's ``package_chain`` for a caller that asks about many
    files at one moment (the files may change between runs: never keep it longer)."""
    directory, filename = os.path.split(os.path.abspath(path))
    stem = filename.rsplit(".", 1)[0]
    chain = None if chains is None else chains.get(directory)
    if chain is None:
        chain = package_chain(directory)
        if chains is not None:
            chains[directory] = chain
    packages, root = chain
    parts = [*packages] if stem == "__init__" else [*packages, stem]
    dotted_name = ".".join(parts)
    package = dotted_name if stem == "__init__" else dotted_name.rpartition(".")[0]
    return dotted_name, package, root


def package_chain(directory: str) -> tuple[tuple[str, ...], str]:
    """The package names from the import root down to ``directory`` (absolute), and that
    root: directories are packages while they hold an ``__init__.py``."""
    parts: list[str] = []
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, name = os.path.split(directory)
        parts.insert(0, name)
    return tuple(parts), directory


def _installed(path: str) -> bool:
    """Inside an installed package (a virtualenv in the project, say): not the project's code."""
    parts = os.path.abspath(path).split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


class ModuleFinder:
    """Resolves module names to files under the project's import roots, each name once."""

    def __init__(self, extra_roots: Iterable[str] = ()) -> None:
        self.extra_roots = tuple(extra_roots)
        self._by_name: dict[tuple[str, str], str | None] = {}

    def find(self, name: str, root: str) -> str | None:
        """The file of module ``name`` under ``root`` or the extra roots, if in the project."""
        key = (name, root)
        if key in self._by_name:
            return self._by_name[key]
        found = None
        relative = name.replace(".", os.sep)
        for base in (root, *self.extra_roots):
            for candidate in (relative + ".py", os.path.join(relative, "__init__.py")):
                path = os.path.join(base, candidate)
                if os.path.isfile(path) and not _installed(path):
                    found = path
                    break
            if found:
                break
        self._by_name[key] = found
        return found
