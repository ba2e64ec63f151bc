"""The result cache: reused only while the file, the helpers it reached, the settings and
the versions are unchanged; never a reason for a run to fail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import libcst
import pytest

import linter.cache
from linter import Config, ConfigError, lint_paths, load_config, main
from linter.cache import CACHE_DIR_NAME, CACHE_ENV, cache_directory

PRICING = """\
from datetime import datetime

def _now():
    return datetime.now()

def price_for(order):
    return _now()
"""
PRICING_FIXED = PRICING.replace("datetime.now()", "order['at']")
SAGA = """\
import random
from orchestrate import OrchestrationContext

from app.pricing import price_for

async def order_saga(ctx: OrchestrationContext, order):
    price = price_for(order)
    return random.random() * price
"""
OTHER = """\
import time
from orchestrate import OrchestrationContext

async def other_saga(ctx: OrchestrationContext, x):
    return time.time()  # does not reach app.pricing
"""
FILES = {"app/__init__.py": "", "app/pricing.py": PRICING, "app/saga.py": SAGA, "other.py": OTHER}


def _lint(root: Path, config: Config | None = None, cache: Path | None = None, **kwargs):
    config = config or Config(root=str(root))
    names = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py") if CACHE_DIR_NAME not in p.parts
    )
    cache_dir = str(cache or root / CACHE_DIR_NAME)
    return lint_paths([str(root / n) for n in names], config, jobs=1, cache_dir=cache_dir, **kwargs)


def _shape(result) -> list[dict[str, object]]:
    return [f.to_dict() for f in result.findings]


@pytest.fixture
def no_parsing(monkeypatch):
    """Make any parse fail the test: proves a result came from the cache."""

    def refuse(*args, **kwargs):
        raise AssertionError("parsed although the cache should have answered")

    def forbid() -> None:
        monkeypatch.setattr(libcst, "parse_module", refuse)

    return forbid


def test_warm_run_answers_from_the_cache_with_identical_results(project, no_parsing):
    root = project(FILES)
    cold = _lint(root)
    assert (cold.cached, cold.parsed) == (0, 2)
    assert {(f.path, f.code, f.chain) for f in cold.findings} == {
        ("app/pricing.py", "ORC101", ("order_saga", "price_for", "_now")),
        ("app/saga.py", "ORC102", ("order_saga",)),
        ("other.py", "ORC101", ("other_saga",)),
    }
    no_parsing()
    warm = _lint(root)
    assert (warm.cached, warm.parsed, warm.files, warm.warnings) == (2, 2, 4, [])
    assert _shape(warm) == _shape(cold)  # paths, positions, messages, hints, chains, fixable


def test_changed_file_is_linted_again_and_the_rest_is_reused(project):
    root = project(FILES)
    _lint(root)
    (root / "other.py").write_text(OTHER.replace("time.time()", "ctx.now()"), encoding="utf-8")
    warm = _lint(root)
    assert warm.cached == 1
    assert [f.path for f in warm.findings] == ["app/pricing.py", "app/saga.py"]


def test_change_in_a_helper_module_invalidates_the_files_that_reached_it(project):
    root = project(FILES)
    _lint(root)
    (root / "app/pricing.py").write_text(PRICING_FIXED, encoding="utf-8")
    warm = _lint(root)
    assert warm.cached == 1  # other.py never reached the helper
    assert [(f.path, f.code) for f in warm.findings] == [
        ("app/saga.py", "ORC102"),
        ("other.py", "ORC101"),
    ]


def test_a_helper_module_created_later_invalidates_the_files_that_looked_for_it(project):
    files = {k: v for k, v in FILES.items() if k != "app/pricing.py"}
    root = project(files)
    cold = _lint(root)
    assert "app/pricing.py" not in {f.path for f in cold.findings}
    (root / "app/pricing.py").write_text(PRICING, encoding="utf-8")
    warm = _lint(root)
    assert warm.cached == 1
    assert ("app/pricing.py", "ORC101") in {(f.path, f.code) for f in warm.findings}


def test_a_new_package_marker_changes_the_module_identity(project):
    """``lib/app/__init__.py`` appearing moves saga's import root from ``lib/app`` to ``lib``,
    where ``app.pricing`` resolves: no file the saga read changed, only its identity."""
    files = {
        "lib/app/pricing.py": PRICING,
        "lib/app/saga.py": SAGA,
        "other.py": OTHER,
    }
    root = project(files)
    cold = _lint(root)
    assert "lib/app/pricing.py" not in {f.path for f in cold.findings}
    (root / "lib/app/__init__.py").write_text("", encoding="utf-8")
    warm = _lint(root)
    assert ("lib/app/pricing.py", "ORC101") in {(f.path, f.code) for f in warm.findings}
    assert warm.cached == 1  # other.py


@pytest.mark.parametrize(
    "change",
    [
        {"ignore": ("ORC102",)},
        {"select": ("ORC101",)},
        {"profiles": ("orchestrate", "temporal")},
        {"allowed": ("random.random",)},
        {"per_file_ignores": (("other.py", ("ORC101",)),)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_configuration_change_misses(project, change):
    root = project(FILES)
    _lint(root)
    changed = _lint(root, Config(root=str(root), **change))
    assert changed.cached == 0
    fresh = lint_paths(
        [str(root / n) for n in sorted(FILES)], Config(root=str(root), **change), jobs=1
    )
    assert _shape(changed) == _shape(fresh)


@pytest.mark.parametrize("what", ["orch-lint", "libcst"])
def test_version_change_misses(project, monkeypatch, what):
    root = project(FILES)
    _lint(root)
    real = linter.cache._version
    distribution = "orchestrate" if what == "orch-lint" else "libcst"
    monkeypatch.setattr(
        linter.cache, "_version", lambda name: "999.0" if name == distribution else real(name)
    )
    assert _lint(root).cached == 0


def test_edited_linter_source_misses(project, monkeypatch):
    root = project(FILES)
    _lint(root)
    monkeypatch.setattr(linter.cache, "_code_fingerprint", lambda: "edited")
    assert _lint(root).cached == 0


def _shards(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*.json"))


def _entries(cache: Path) -> dict[str, dict]:
    """Every stored entry, by the absolute path of its file."""
    entries = {}
    for shard in _shards(cache):
        entries.update(json.loads(shard.read_text(encoding="utf-8"))["entries"])
    return entries


def test_entries_are_plain_json(project):
    root = project(FILES)
    _lint(root)
    cache = root / CACHE_DIR_NAME
    shards = _shards(cache)
    assert 1 <= len(shards) <= 2
    for shard in shards:
        data = json.loads(shard.read_text(encoding="utf-8"))
        assert set(data) == {"format", "entries"} and data["format"] == linter.cache.FORMAT
    entries = _entries(cache)
    assert sorted(entries) == [str(root / "app" / "saga.py"), str(root / "other.py")]
    saga = entries[str(root / "app" / "saga.py")]
    assert set(saga) == {"path", "digest", "parsed", "findings", "modules", "lookups"}
    assert str(root / "app" / "pricing.py") in {m[0] for m in saga["modules"]}
    assert ["app.pricing", str(root), str(root / "app" / "pricing.py")] in saga["lookups"]
    assert (cache / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert (
        (cache / "CACHEDIR.TAG")
        .read_text(encoding="utf-8")
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    assert not list(cache.rglob("*.tmp"))  # every write was renamed into place


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b'{"format": 2, "entr',
        b"\xff\xfe garbage",
        b"[]",
        b'{"format": 2}',
        b'{"format": 2, "entries": []}',
        b'{"format": 2, "entries": {"x": 1}}',
        b"null",
    ],
    ids=["empty", "truncated", "binary", "list", "partial", "entries-list", "junk-entry", "null"],
)
def test_corrupt_shards_are_linted_afresh_and_rewritten(project, damage):
    root = project(FILES)
    cold = _lint(root)
    for shard in _shards(root / CACHE_DIR_NAME):
        shard.write_bytes(damage)
    again = _lint(root)
    assert (again.cached, again.warnings) == (0, [])
    assert _shape(again) == _shape(cold)
    assert _lint(root).cached == 2  # the damaged entries were replaced


def test_tampered_entry_of_the_right_shape_is_not_trusted(project):
    root = project(FILES)
    cold = _lint(root)
    for shard in _shards(root / CACHE_DIR_NAME):
        data = json.loads(shard.read_text(encoding="utf-8"))
        for entry in data["entries"].values():
            entry["digest"] = "0" * 32
        shard.write_text(json.dumps(data), encoding="utf-8")
    again = _lint(root)
    assert again.cached == 0 and _shape(again) == _shape(cold)


def test_cache_that_cannot_be_written_warns_once_and_lints(project, monkeypatch):
    root = project(FILES)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(linter.cache.os, "replace", refuse)
    result = _lint(root, cache=root / "ro-cache")
    assert _shape(result) == _shape(
        lint_paths([str(root / n) for n in sorted(FILES)], Config(root=str(root)), jobs=1)
    )
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert "cannot write the cache in" in warning and "ro-cache" in warning
    assert "Permission denied" in warning and "--no-cache" in warning


def test_cache_path_that_is_a_file_warns_once_and_lints(project, capsys):
    root = project({**FILES, "pyproject.toml": '[tool.orch-lint]\ncache-dir = "blocker/cache"\n'})
    (root / "blocker").write_text("not a directory", encoding="utf-8")
    assert main(["."]) == 1
    err = capsys.readouterr().err
    assert err.count("orch-lint: warning: cannot write the cache") == 1
    assert "Found 3 findings" in err


def test_unreadable_entry_warns_once_and_lints(project):
    root = project(FILES)
    cold = _lint(root)
    for shard in _shards(root / CACHE_DIR_NAME):
        shard.unlink()
        shard.mkdir()  # reading it fails with IsADirectoryError, as with bad permissions
    again = _lint(root)
    assert again.cached == 0 and _shape(again) == _shape(cold)
    assert len(again.warnings) == 1 and "cannot read the cache" in again.warnings[0]


def test_parallel_run_writes_the_same_entries(project, no_parsing):
    files = {f"m{i}.py": OTHER for i in range(10)}
    root = project(files)
    names = sorted(files)
    config = Config(root=str(root))
    cache = str(root / CACHE_DIR_NAME)
    cold = lint_paths([str(root / n) for n in names], config, jobs=2, cache_dir=cache)
    assert cold.cached == 0 and len(_entries(root / CACHE_DIR_NAME)) == 10
    no_parsing()
    warm = lint_paths([str(root / n) for n in names], config, jobs=2, cache_dir=cache)
    assert warm.cached == 10 and _shape(warm) == _shape(cold)


def test_fix_never_serves_cached_results(project, capsys):
    root = project(
        {
            "other.py": OTHER.replace("time.time()", "datetime.now()").replace(
                "import time", "from datetime import datetime"
            )
        }
    )
    assert main(["."]) == 1  # fills the cache
    assert main(["--fix", "."]) == 0  # must see the trees to rewrite them
    assert "ctx.now()" in (root / "other.py").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["."]) == 0  # the rewritten file is linted afresh, not served stale
    assert capsys.readouterr().err.startswith("All checks passed")


def test_cache_location_options(project, monkeypatch, capsys):
    root = project({**FILES, "pyproject.toml": "[tool.orch-lint]\n"})
    (root / "app" / "deep").mkdir()
    monkeypatch.chdir(root / "app" / "deep")
    assert main([str(root)]) == 1
    assert (root / CACHE_DIR_NAME / "CACHEDIR.TAG").is_file()  # at the project root, not cwd
    assert not (root / "app" / "deep" / CACHE_DIR_NAME).exists()

    elsewhere = root / "env-cache"
    monkeypatch.setenv(CACHE_ENV, str(elsewhere))
    assert main([str(root)]) == 1
    assert _entries(elsewhere)

    monkeypatch.delenv(CACHE_ENV)
    config = load_config(str(root / "pyproject.toml"))
    assert cache_directory(config) == str(root / CACHE_DIR_NAME)
    assert cache_directory(config, enabled=False) is None
    (root / "pyproject.toml").write_text('[tool.orch-lint]\ncache-dir = "build/lint"\n')
    assert cache_directory(load_config(str(root / "pyproject.toml"))) == str(
        root / "build" / "lint"
    )
    (root / "pyproject.toml").write_text("[tool.orch-lint]\ncache = false\n")
    assert cache_directory(load_config(str(root / "pyproject.toml"))) is None


def test_no_cache_flag_and_cache_false_write_nothing(project):
    root = project(FILES)
    assert main(["--no-cache", "."]) == 1
    assert not (root / CACHE_DIR_NAME).exists()
    (root / "pyproject.toml").write_text("[tool.orch-lint]\ncache = false\n", encoding="utf-8")
    assert main(["."]) == 1
    assert not (root / CACHE_DIR_NAME).exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('cache = "yes"', "cache must be true or false"),
        ("cache-dir = 3", "cache-dir must be a directory path"),
    ],
)
def test_bad_cache_settings_are_config_errors(tmp_path, text, message):
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.orch-lint]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))


def test_cache_directory_is_ignored_by_git_in_this_repository():
    gitignore = Path(__file__).resolve().parents[2] / ".gitignore"
    assert f"{CACHE_DIR_NAME}/" in gitignore.read_text(encoding="utf-8").splitlines()


def test_old_settings_folders_are_pruned_and_nothing_else(project, monkeypatch):
    root = project(FILES)
    cache = root / CACHE_DIR_NAME
    (cache / "mine").mkdir(parents=True)
    created = []
    for n in range(linter.cache.KEEP_SETTINGS + 2):
        monkeypatch.setattr(linter.cache, "_code_fingerprint", lambda n=n: f"edit {n}")
        before = {p.name for p in cache.iterdir() if p.is_dir()}
        _lint(root)
        (new,) = {p.name for p in cache.iterdir() if p.is_dir()} - before
        os.utime(cache / new, ns=(10**9 * (n + 1),) * 2)  # ordered, whatever the clock
        created.append(new)
    settings = {p.name for p in cache.iterdir() if p.is_dir() and p.name != "mine"}
    assert settings == set(created[-linter.cache.KEEP_SETTINGS :])
    assert (cache / "mine").is_dir() and (cache / "CACHEDIR.TAG").is_file()


def test_entry_name_does_not_depend_on_the_working_directory(project, monkeypatch):
    root = project(FILES)
    _lint(root)
    monkeypatch.chdir(root / "app")
    warm = _lint(root)
    assert warm.cached == 2
    # shown relative to the new working directory, absolute outside it (as when cold)
    assert {f.path for f in warm.findings} == {"pricing.py", "saga.py", str(root / "other.py")}


def test_runs_over_different_files_add_to_the_same_cache(project):
    """As pre-commit does: each run lints a few files; entries of earlier runs are kept."""
    root = project({**FILES, **{f"extra{i}.py": OTHER for i in range(20)}})
    config = Config(root=str(root))
    cache = str(root / CACHE_DIR_NAME)
    names = ["app/saga.py", "other.py", *(f"extra{i}.py" for i in range(20))]
    for name in names:
        lint_paths([str(root / name)], config, jobs=1, cache_dir=cache)
    assert len(_entries(root / CACHE_DIR_NAME)) == len(names)
    assert _lint(root).cached == len(names)


def test_entries_of_deleted_files_are_dropped_when_their_shard_is_rewritten(project):
    root = project({**FILES, **{f"extra{i}.py": OTHER for i in range(40)}})
    _lint(root)
    for i in range(40):
        (root / f"extra{i}.py").unlink()
    (root / "other.py").write_text(OTHER + "\n", encoding="utf-8")  # rewrites its shard
    _lint(root)
    assert {str(root / "app" / "saga.py"), str(root / "other.py")} <= set(
        _entries(root / CACHE_DIR_NAME)
    )
    for shard in _shards(root / CACHE_DIR_NAME):
        stored = json.loads(shard.read_text(encoding="utf-8"))["entries"]
        if str(root / "other.py") in stored:
            assert all(os.path.exists(path) for path in stored)
            assert len(stored) < 10  # 42 entries over 16 shards, less those deleted
