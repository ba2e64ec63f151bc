"""The result cache: a file's findings are reused while nothing they depend on has changed.

Like ruff's cache, an entry is keyed by the file's content and the settings of the run (the
configuration, orch-lint's version and code, libcst's and Python's versions). Because
orch-lint follows helpers and aliases into other modules, an entry also lists what the
file's analysis read through the module loader: each module with the digest of its bytes and
its import identity, and each module name looked up with what it resolved to (nothing, too:
creating ``app/pricing.py`` later changes the findings of a file that imports it). An entry
is used only if all of these still hold.

Entries are JSON, in a few shard files under ``<cache dir>/<settings key>/``, written by the
main process only (never by the pool's workers), each through a temporary file renamed into
place. Any problem with the cache (missing, corrupt, unreadable, read-only)
means the file is linted afresh; the run never fails because of it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache

from linter.config import Config
from linter.finder import ModuleFinder, blake2b, content_digest, module_identity, read_bytes
from linter.findings import Finding

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cost on every run)
if TYPE_CHECKING:
    from typing import Any

    from linter.modules import ModuleLoader, Reads  # they parse: a cached run has none

__all__ = [
    "CACHE_DIR_NAME",
    "CACHE_ENV",
    "Dependencies",
    "ResultCache",
    "cache_directory",
    "dependencies",
]

CACHE_DIR_NAME = ".orch_lint_cache"
CACHE_ENV = "ORCH_LINT_CACHE_DIR"
FORMAT = 2  # 2: entries grouped in shard files
_GITIGNORE = "# Automatically created by orch-lint.\n*\n"
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by orch-lint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
_NOT_SETTINGS = frozenset({"path", "cache", "cache_dir"})  # do not change any finding

_SERIAL = itertools.count()
_SETTINGS_NAME = re.compile(r"[0-9a-f]{20}")
KEEP_SETTINGS = 8  # settings folders kept, counting the current one
SHARDS = 16  # entry files per settings folder
Identity = tuple[str, str, str]  # (dotted name, package, import root)


class Dependencies:
    """What one file's findings were computed from, besides the run's settings: the digest
    of its own bytes as linted, each module its analysis read ``(path, digest, identity)``
    and each module name it looked up ``(name, root, file found)``."""

    __slots__ = ("digest", "lookups", "modules")

    def __init__(
        self,
        digest: str,
        modules: tuple[tuple[str, str, Identity | None], ...],
        lookups: tuple[tuple[str, str, str | None], ...],
    ) -> None:
        self.digest = digest
        self.modules = modules
        self.lookups = lookups

    def _values(self) -> tuple[object, ...]:
        return (self.digest, self.modules, self.lookups)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dependencies):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[type[Dependencies], tuple[object, ...]]:
        return Dependencies, self._values()


def dependencies(loader: ModuleLoader, path: str, digest: str, reads: Reads) -> Dependencies:
    """The dependencies of ``path``'s analysis, from what the loader saw while it ran."""
    own = os.path.abspath(path)
    modules = []
    for module in sorted(reads.modules | {own}):
        info = loader.loaded(module)
        identity = None if info is None else (info.dotted, info.package, info.root)
        modules.append(
            (module, digest if module == own else loader.digests.get(module, ""), identity)
        )
    lookups = tuple(
        (name, root, _absolute(loader.find(name, root))) for name, root in sorted(reads.lookups)
    )
    return Dependencies(digest, tuple(modules), lookups)


def cache_directory(
    config: Config, *, enabled: bool = True, environ: Mapping[str, str] | None = None
) -> str | None:
    """Where this run's cache lives, or None when caching is off (``--no-cache`` or
    ``cache = false``). ``ORCH_LINT_CACHE_DIR`` wins over ``cache-dir``, which wins over
    ``.orch_lint_cache`` at the project root (the directory of the pyproject.toml found)."""
    if not enabled or not config.cache:
        return None
    env = (os.environ if environ is None else environ).get(CACHE_ENV)
    if env:
        return os.path.abspath(env)
    if config.cache_dir:
        return os.path.abspath(os.path.join(config.root, config.cache_dir))
    return os.path.abspath(os.path.join(config.root, CACHE_DIR_NAME))


class ResultCache:
    """One run's view of the cache: look entries up, check them, store new ones.

    Entries live in ``SHARDS`` JSON files chosen by a hash of the file's path: a cold run
    writes a handful of files instead of one per linted file (creating a file can cost as
    much as a millisecond of kernel time), and a warm run opens as few. New entries are kept
    until ``flush()``, which merges them into what is on disk then.
    """

    def __init__(self, directory: str, config: Config, roots: Iterable[str]) -> None:
        self.directory = directory
        self.roots = tuple(roots)
        self.warnings: list[str] = []
        self._folder = os.path.join(directory, settings_key(config, self.roots)[:20])
        self._shards: dict[str, dict[str, Any]] = {}  # shard file -> entries by path
        self._pending: dict[str, dict[str, Any]] = {}
        self._checks = _Checks(self.roots)

    def get(self, path: str, data: bytes) -> tuple[list[Finding], bool] | None:
        """The findings and parsed flag stored for ``path`` if still valid for ``data``."""
        key = os.path.abspath(path)
        entry = self._shard(self._shard_path(key), warn=True).get(key)
        if not isinstance(entry, dict):
            return None
        try:
            digest = content_digest(data)
            if entry["path"] != key or entry["digest"] != digest:
                return None
            self._checks.know(key, digest)
            if not self._checks.hold(entry):
                return None
            findings = [_finding(f) for f in entry["findings"]]
            return findings, bool(entry["parsed"])
        except (KeyError, TypeError, ValueError, IndexError):
            return None  # an entry of another shape: lint afresh, rewrite it

    def put(self, path: str, findings: Iterable[Finding], parsed: bool, deps: Dependencies) -> None:
        """Keep a fresh result for ``flush()``."""
        key = os.path.abspath(path)
        self._pending.setdefault(self._shard_path(key), {})[key] = {
            "path": key,
            "digest": deps.digest,
            "parsed": parsed,
            "findings": [_finding_json(f) for f in findings],
            "modules": [[p, d, list(i) if i else None] for p, d, i in deps.modules],
            "lookups": [list(lookup) for lookup in deps.lookups],
        }

    def flush(self) -> None:
        """Write the new entries, each shard merged with its current content on disk (a
        concurrent run's entries survive unless it wrote the same shard in between: then
        some are lost, never wrong). On failure, warn once; the run itself goes on."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._prepare()
            for shard, entries in sorted(pending.items()):
                merged = {**self._shard(shard, warn=False, fresh=True), **entries}
                merged = {k: v for k, v in merged.items() if os.path.exists(k)}  # deleted files
                text = json.dumps({"format": FORMAT, "entries": merged}, separators=(",", ":"))
                _write_atomic(shard, text)
        except OSError as exc:
            self._warn(
                f"cannot write the cache in {_shown(self.directory)} "
                f"({exc.strerror or exc}); this run's results are not cached. Make the directory "
                f"writable, point `cache-dir` in [tool.orch-lint] or {CACHE_ENV} elsewhere, "
                "or pass --no-cache"
            )

    def _shard_path(self, key: str) -> str:
        number = int.from_bytes(blake2b(key.encode(), digest_size=2).digest()) % SHARDS
        return os.path.join(self._folder, f"{number:02x}.json")

    def _shard(self, shard: str, *, warn: bool, fresh: bool = False) -> dict[str, Any]:
        """The entries in ``shard`` (empty when missing, corrupt or unreadable)."""
        if not fresh and shard in self._shards:
            return self._shards[shard]
        entries: dict[str, Any] = {}
        try:
            with open(shard, "rb") as handle:
                data = json.loads(handle.read())
            if isinstance(data, dict) and data.get("format") == FORMAT:
                found = data.get("entries")
                entries = found if isinstance(found, dict) else {}
        except (FileNotFoundError, NotADirectoryError):
            pass  # no entry yet (a directory in the way is reported when writing)
        except OSError as exc:
            if warn:
                self._warn(
                    f"cannot read the cache in {_shown(self.directory)} "
                    f"({exc.strerror or exc}); linting without it. Fix its permissions, "
                    "delete it, or pass --no-cache"
                )
        except ValueError:  # truncated or corrupt (JSONDecodeError, bad UTF-8)
            pass
        self._shards[shard] = entries
        return entries

    def _prepare(self) -> None:
        if not os.path.isdir(self._folder):
            os.makedirs(self._folder, exist_ok=True)
            _prune(self.directory, keep=os.path.basename(self._folder))
        for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            marker = os.path.join(self.directory, name)
            if not os.path.exists(marker):
                _write_atomic(marker, text)

    def _warn(self, message: str) -> None:
        if not self.warnings:
            self.warnings.append(message)


class _Checks:
    """Whether an entry's dependencies still hold, each file read and each name looked up
    at most once per run."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self._finder = ModuleFinder(roots)
        self._digests: dict[str, str] = {}
        self._chains: dict[str, tuple[tuple[str, ...], str]] = {}

    def know(self, path: str, digest: str) -> None:
        """The digest of a file the run has read already (absolute path)."""
        self._digests[path] = digest

    def hold(self, entry: Mapping[str, Any]) -> bool:
        for path, digest, identity in entry["modules"]:
            if self._digest(path) != digest:
                return False
            if identity is not None and self._identity(path) != tuple(identity):
                return False
        return all(
            _absolute(self._finder.find(name, root)) == found
            for name, root, found in entry["lookups"]
        )

    def _digest(self, path: str) -> str:
        digest = self._digests.get(path)
        if digest is None:
            try:
                digest = content_digest(read_bytes(path))
            except OSError:
                digest = ""
            self._digests[path] = digest
        return digest

    def _identity(self, path: str) -> Identity:
        return module_identity(path, self._chains)


def _prune(directory: str, keep: str) -> None:
    """Settings change (an upgrade, an edited checkout, another config): when a new settings
    folder is made, delete all but the ``KEEP_SETTINGS`` most recently written others. Only
    folders named like ours are touched; failures are ignored (the next run tries again)."""
    try:
        names = [n for n in os.listdir(directory) if _SETTINGS_NAME.fullmatch(n) and n != keep]
        folders = [os.path.join(directory, n) for n in names]
        folders.sort(key=os.path.getmtime, reverse=True)
    except OSError:
        return
    if len(folders) < KEEP_SETTINGS:
        return
    import shutil  # rarely needed: not worth its import on every run

    for folder in folders[KEEP_SETTINGS - 1 :]:
        shutil.rmtree(folder, ignore_errors=True)


def settings_key(config: Config, roots: Iterable[str]) -> str:
    """A digest of everything besides the files that can change a finding."""
    settings = {
        name: _canonical(getattr(config, name))
        for name in config.FIELDS
        if name not in _NOT_SETTINGS
    }
    settings["root"] = os.path.abspath(config.root)
    payload = {
        "format": FORMAT,
        "orch-lint": _version("orchestrate"),
        "code": _code_fingerprint(),
        "libcst": _version("libcst"),
        "python": sys.version.split()[0],
        "config": settings,
        "roots": [os.path.abspath(r) for r in roots],
    }
    text = json.dumps(payload, sort_keys=True, default=_canonical)
    return blake2b(text.encode(), digest_size=20).hexdigest()


def _canonical(value: Any) -> Any:
    """A JSON-ready form that is the same in every process (sets sorted, no hash order)."""
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _version(distribution: str) -> str:
    """The installed version of ``distribution``: from the name of its ``.dist-info``
    directory on ``sys.path`` (first match wins, as for imports), which costs a directory
    listing or two instead of importing ``importlib.metadata`` (tens of milliseconds, on
    every run); through ``importlib.metadata`` only when there is no such directory."""
    wanted = _normalized(distribution)
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name[: -len(".dist-info")].partition("-")
                if version and _normalized(project) == wanted:
                    return version
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _normalized(name: str) -> str:
    """A project name as compared across spellings (``Foo.Bar`` is ``foo_bar``)."""
    return name.replace("-", "_").replace(".", "_").lower()


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """The linter's own source files (size and mtime): an edited checkout is a new version."""
    package = os.path.dirname(os.path.abspath(__file__))
    parts = []
    for directory, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(directory, name))
                relative = os.path.relpath(os.path.join(directory, name), package)
                parts.append(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}")
    return blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


def _finding_json(finding: Finding) -> dict[str, object]:
    data = finding.to_dict()
    data["path"] = os.path.abspath(finding.path)  # shown relative to the cwd when read back
    return data


def _finding(data: Mapping[str, Any]) -> Finding:
    return Finding(
        _shown(os.path.abspath(str(data["path"]))),
        int(data["line"]),
        int(data["col"]),
        str(data["code"]),
        str(data["message"]),
        str(data["hint"]),
        tuple(str(c) for c in data["chain"]),
        bool(data["fixable"]),
    )


def _absolute(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def _shown(path: str) -> str:
    """An absolute path as findings show it: relative to the working directory when under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _write_atomic(path: str, text: str) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``:
    readers see the old entry or the new one, never half of one. The temporary name is
    unique to this process and write (only the main process writes)."""
    temporary = f"{path}.{os.getpid()}-{next(_SERIAL)}.tmp"
    try:
        # 0o666 less the umask, like any file a tool creates (mkstemp's 0600 would lock
        # out a CI job running as another user).
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
