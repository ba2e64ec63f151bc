"""The plugin's logic without pytest: env options, registry lookup, recording, replaying a file."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from orchestrate import NonDeterminismError, OrchestrationContext, Registry
from testkit import FakeClock
from testkit.recording import (
    ENV_OPTIONS,
    check_env_options,
    find_module_registry,
    history_file_name,
    history_files,
    make_env,
    record_env,
    registry_for_history,
    registry_reference,
    replay_saved,
)

registry = Registry()


@registry.orchestration
async def hello(ctx: OrchestrationContext, name: str) -> str:
    return f"hello {name}"


@pytest.mark.parametrize(
    ("test_id", "instance_id", "readable"),
    [
        ("tests/test_a.py::test_b[x-1]", "hello-1", "tests_test_a.py_test_b_x-1__hello-1-"),
        ("t.py::c", "a/b:c", "t.py_c__a_b_c-"),
    ],
)
def test_history_file_name_is_filesystem_safe(test_id, instance_id, readable):
    name = history_file_name(test_id, instance_id)
    assert name.startswith(readable) and name.endswith(".json")
    assert len(name) == len(readable) + len("0123456789.json")


def test_history_file_names_never_collide_even_ignoring_case():
    pairs = [("t.py::c", "a/b"), ("t.py::c", "a_b"), ("t.py::c", "A_b"), ("t.py::c__a", "b"),
             ("t.py::c", "a__b")]
    names = {history_file_name(test_id, key).lower() for test_id, key in pairs}
    assert len(names) == len(pairs)


def test_env_options_are_checked_and_applied():
    check_env_options({"strict": True, "start": "2024-01-01T00:00:00Z"})
    with pytest.raises(ValueError, match="unknown option\\(s\\) colour; valid options are"):
        check_env_options({"colour": "red"})
    clock = FakeClock()
    env = make_env(registry, clock, {"strict": True, "start": "ignored: the clock has it"})
    assert env.clock is clock and env.strict
    assert "replay_check" in ENV_OPTIONS
    env = make_env(registry, FakeClock(), {"guard_calls": False, "store": "memory:"})
    assert env.guard_calls is False


@pytest.mark.parametrize("name", ["registry", "reg"])
def test_find_module_registry_by_conventional_name(name):
    module = types.ModuleType("m")
    setattr(module, name, registry)
    assert find_module_registry(module) is registry
    assert find_module_registry(types.ModuleType("empty")) is None


def test_registry_reference_falls_back_to_the_orchestrations_module():
    this = sys.modules[__name__]
    expected = {"module": __name__, "attribute": "registry"}
    assert registry_reference(registry, this) == expected
    assert registry_reference(registry, types.ModuleType("unrelated")) == expected
    assert registry_reference(Registry(), None) is None


def test_record_env_then_replay_saved(tmp_path: Path):
    env = make_env(registry, FakeClock(), {})
    env.run(hello, "ana")
    reference = registry_reference(registry, sys.modules[__name__])
    written = record_env(env, tmp_path / "out", "t.py::test", reference)
    assert [p.name for p in written] == [history_file_name("t.py::test", "hello-1")]
    assert history_files(tmp_path / "out") == written
    assert history_files(written[0]) == written
    assert registry_for_history(written[0], f"{__name__}:registry") is registry
    replay_saved(written[0], f"{__name__}:registry")
    with pytest.raises(LookupError, match=f"recorded with {__name__}:registry"):
        registry_for_history(written[0])  # the note is a hint in the message, never loaded


def test_replay_saved_with_an_override_registry(tmp_path: Path):
    env = make_env(registry, FakeClock(), {})
    env.run(hello, "bo")
    [path] = record_env(env, tmp_path, "t", None)
    with pytest.raises(LookupError, match=r"no registry to replay .* --orch-replay-registry"):
        registry_for_history(path)
    replay_saved(path, f"{__name__}:registry")
    module = types.ModuleType("changed_registry_module")
    module.registry = changed = Registry()  # type: ignore[attr-defined]

    @changed.orchestration(name="hello")
    async def hello_v2(ctx: OrchestrationContext, name: str) -> str:
        await ctx.sleep(1)
        return name

    sys.modules["changed_registry_module"] = module
    try:
        with pytest.raises(NonDeterminismError, match="no longer replays"):
            replay_saved(path, "changed_registry_module:registry")
    finally:
        del sys.modules["changed_registry_module"]


EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("executed")
from orchestrate import Registry
registry = Registry()
"""


def _hostile_history(tmp_path: Path, module: str) -> tuple[Path, Path]:
    """A valid history whose ``recorded_by`` names an importable module and a file that would
    create `marker` if imported or executed."""
    marker = tmp_path / "marker"
    source = tmp_path / f"{module}.py"
    source.write_text(EVIL.format(marker=str(marker)))
    env = make_env(registry, FakeClock(), {})
    env.run(hello, "eve")
    [path] = record_env(
        env, tmp_path / "histories", "t", {"module": module, "file": str(source),
                                             "attribute": "registry"}
    )
    return path, marker


def test_a_history_file_naming_a_module_and_file_never_runs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    module = "hostile_history_module"
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, so only policy keeps it out
    path, marker = _hostile_history(tmp_path, module)
    with pytest.raises(LookupError, match="never loaded from a name inside one"):
        replay_saved(path)
    replay_saved(path, f"{__name__}:registry")  # the configured registry replays it
    assert not marker.exists()
    assert module not in sys.modules
