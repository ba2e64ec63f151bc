"""``[tool.orch-lint]`` in the nearest pyproject.toml, validated with errors that say the fix.

The result cache is set with ``cache`` (true/false) and ``cache-dir`` (see ``linter.cache``).

Keys: select, ignore, per-file-ignores, profiles, orchestration-decorators, extra-banned,
allowed, durable-calls, outside-findings, exclude. Codes may be given in full (``ORC101``) or as a prefix (``ORC1``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping

from linter.codes import KNOWN_CODES
from linter.errors import ConfigError, UsageError
from linter.profiles import DEFAULT_PROFILES, PROFILES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a cost on every run)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["OUTSIDE_MODES", "Config", "find_config", "load_config", "parse_codes"]

# What to do with findings in files outside the paths given (helpers in other modules
# reached from a linted workflow): mark them (the default: they are real problems of the
# linted workflows, but the user did not ask about those files) or hide them.
OUTSIDE_MODES = ("mark", "hide")

_KEYS = (
    "allowed",
    "cache",
    "cache-dir",
    "durable-calls",
    "exclude",
    "extra-banned",
    "ignore",
    "orchestration-decorators",
    "outside-findings",
    "per-file-ignores",
    "profiles",
    "select",
)


_FIELDS = (
    "root",
    "path",
    "select",
    "ignore",
    "per_file_ignores",
    "profiles",
    "orchestration_decorators",
    "extra_banned",
    "allowed",
    "durable_calls",
    "outside_findings",
    "exclude",
    "cache",
    "cache_dir",
)


class Config:
    """The settings of one run, after the file and the command line are combined.

    Immutable, equal when all of ``FIELDS`` are. Written out rather than a dataclass (see
    ``linter.findings``): every run builds one before it knows whether it will parse.
    """

    FIELDS = _FIELDS
    __slots__ = (*_FIELDS, "_cache")

    root: str
    path: str | None
    select: tuple[str, ...]
    ignore: tuple[str, ...]
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...]
    profiles: tuple[str, ...]
    orchestration_decorators: tuple[str, ...]
    extra_banned: tuple[tuple[str, str], ...]
    allowed: tuple[str, ...]
    durable_calls: tuple[str, ...]
    outside_findings: str
    exclude: tuple[str, ...]
    cache: bool
    cache_dir: str | None  # relative to root; see linter.cache.cache_directory
    _cache: dict[str, frozenset[str]]

    def __init__(
        self,
        root: str = ".",
        path: str | None = None,
        select: tuple[str, ...] = ("ORC",),
        ignore: tuple[str, ...] = (),
        per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = (),
        profiles: tuple[str, ...] = DEFAULT_PROFILES,
        orchestration_decorators: tuple[str, ...] = (),
        extra_banned: tuple[tuple[str, str], ...] = (),
        allowed: tuple[str, ...] = (),
        durable_calls: tuple[str, ...] = (),
        outside_findings: str = "mark",
        exclude: tuple[str, ...] = (),
        cache: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        values = (
            root,
            path,
            select,
            ignore,
            per_file_ignores,
            profiles,
            orchestration_decorators,
            extra_banned,
            allowed,
            durable_calls,
            outside_findings,
            exclude,
            cache,
            cache_dir,
        )
        for name, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Config is immutable; use .with_overrides({name}=...)")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Config:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Config({fields})"

    def __reduce__(self) -> tuple[type[Config], tuple[object, ...]]:
        return Config, self._values()

    def enabled_codes(self) -> frozenset[str]:
        """The codes selected and not ignored."""
        selected = {c for c in KNOWN_CODES if _matches(c, self.select)}
        return frozenset(c for c in selected if not _matches(c, self.ignore))

    def ignored_for(self, path: str) -> frozenset[str]:
        """Codes switched off for ``path`` by per-file-ignores (globs relative to the root)."""
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        relative = self._relative(path)
        codes: set[str] = set()
        for pattern, prefixes in self.per_file_ignores:
            if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(
                os.path.basename(path), pattern
            ):
                codes.update(c for c in KNOWN_CODES if _matches(c, prefixes))
        result = frozenset(codes)
        self._cache[path] = result
        return result

    def is_excluded(self, path: str) -> bool:
        if not self.exclude:
            return False
        relative = self._relative(path)
        return any(
            fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, p.rstrip("/") + "/*")
            for p in self.exclude
        )

    def _relative(self, path: str) -> str:
        """``path`` relative to the root, with ``/`` separators (for the globs)."""
        root, absolute = os.path.abspath(self.root), os.path.abspath(path)
        if absolute.startswith(root + os.sep) and root != os.sep:
            relative = absolute[len(root) + 1 :]
        else:
            relative = os.path.relpath(absolute, root)
        return relative.replace(os.sep, "/")

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with the given settings changed (those given as None are kept)."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update({k: v for k, v in changes.items() if v is not None})
        return Config(**values)


def _matches(code: str, prefixes: Iterable[str]) -> bool:
    return any(p == "ALL" or code.startswith(p) for p in prefixes)


def parse_codes(
    values: Iterable[str], where: str, error: type[Exception] = UsageError
) -> tuple[str, ...]:
    """Validate rule codes or prefixes; ``where`` names the option or key in the error."""
    codes = []
    for value in values:
        code = value.strip().upper()
        if not code:
            continue
        if code != "ALL" and not any(k.startswith(code) for k in KNOWN_CODES):
            raise error(
                f"{where}: unknown rule code {value!r}; valid codes are "
                f"{', '.join(KNOWN_CODES)} (or a prefix such as ORC1, or ALL)"
            )
        codes.append(code)
    return tuple(codes)


def find_config(start: str) -> str | None:
    """The nearest pyproject.toml above ``start`` that has a ``[tool.orch-lint]`` table."""
    directory = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, "rb") as handle:
                    if b"tool.orch-lint" in handle.read():
                        return candidate
            except OSError:
                pass
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load_config(path: str | None, root: str = ".") -> Config:
    """Read and validate ``[tool.orch-lint]`` from ``path``; defaults when ``path`` is None."""
    if path is None:
        return Config(root=root)
    import tomllib  # only when there is a config file to read

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from exc
    table = data.get("tool", {}).get("orch-lint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.orch-lint] must be a table")
    return _from_table(table, path)


def _strings(table: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: [tool.orch-lint] {key} must be a list of strings")
    return tuple(value)


def _from_table(table: Mapping[str, Any], path: str) -> Config:
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: [tool.orch-lint] has unknown key {unknown[0]!r}; valid keys are "
            f"{', '.join(_KEYS)}"
        )

    def codes(key: str) -> tuple[str, ...]:
        return parse_codes(
            _strings(table, key, path), f"{path}: [tool.orch-lint] {key}", ConfigError
        )

    cache = table.get("cache", True)
    if not isinstance(cache, bool):
        raise ConfigError(f"{path}: [tool.orch-lint] cache must be true or false")
    cache_dir = table.get("cache-dir")
    if cache_dir is not None and (not isinstance(cache_dir, str) or not cache_dir):
        raise ConfigError(
            f'{path}: [tool.orch-lint] cache-dir must be a directory path, e.g. ".orch_lint_cache"'
        )
    profiles = _strings(table, "profiles", path) if "profiles" in table else DEFAULT_PROFILES
    for name in profiles:
        if name not in PROFILES:
            raise ConfigError(
                f"{path}: [tool.orch-lint] profiles: unknown profile {name!r}; valid profiles "
                f"are {', '.join(PROFILES)}"
            )
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(
            f"{path}: [tool.orch-lint] per-file-ignores must be a table of glob = [codes]"
        )
    per_file_ignores = tuple(
        (
            pattern,
            parse_codes(
                [v] if isinstance(v, str) else v if isinstance(v, list) else [repr(v)],
                f"{path}: [tool.orch-lint] per-file-ignores {pattern!r}",
                ConfigError,
            ),
        )
        for pattern, v in per_file.items()
    )
    banned = table.get("extra-banned", {})
    if not isinstance(banned, dict) or not all(isinstance(v, str) for v in banned.values()):
        raise ConfigError(
            f'{path}: [tool.orch-lint] extra-banned must be a table of "qualified.name" = "hint"'
        )
    outside = table.get("outside-findings", "mark")
    if outside not in OUTSIDE_MODES:
        raise ConfigError(
            f"{path}: [tool.orch-lint] outside-findings must be one of "
            f"{', '.join(repr(m) for m in OUTSIDE_MODES)}, not {outside!r}"
        )
    return Config(
        root=os.path.dirname(os.path.abspath(path)),
        path=path,
        select=codes("select") if "select" in table else ("ORC",),
        ignore=codes("ignore"),
        per_file_ignores=per_file_ignores,
        profiles=profiles,
        orchestration_decorators=_strings(table, "orchestration-decorators", path),
        extra_banned=tuple(banned.items()),
        allowed=_strings(table, "allowed", path),
        durable_calls=_strings(table, "durable-calls", path),
        outside_findings=outside,
        exclude=_strings(table, "exclude", path),
        cache=cache,
        cache_dir=cache_dir,
    )
