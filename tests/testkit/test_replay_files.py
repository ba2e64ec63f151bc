"""Recorded histories: record, replay against today's code, report per file, find the registry."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrate import NonDeterminismError, OrchestrationContext, Registry, history_to_json
from testkit import TestEnv, replay_dir
from testkit.replay_files import load_registry, recorded_registry, save_history

reg = Registry()


@reg.activity
def reserve(item: str) -> str:
    return f"r-{item}"


@reg.orchestration
async def order(ctx: OrchestrationContext, items: list[str]) -> list[str]:
    done = [await ctx.activity(reserve, item) for item in items]
    await ctx.sleep(timedelta(hours=1))
    ctx.set_status("reserved")
    return done


@reg.orchestration
async def waits(ctx: OrchestrationContext, _: None = None) -> object:
    return await ctx.event("Go")


# Today's code, changed without ctx.patched(): reserves in reverse order.
changed = Registry()
changed.activity(reserve)


@changed.orchestration(name="order")
async def order_v2(ctx: OrchestrationContext, items: list[str]) -> list[str]:
    done = [await ctx.activity(reserve, item) for item in reversed(items)]
    await ctx.sleep(timedelta(hours=1))
    ctx.set_status("reserved")
    return done


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    env = TestEnv(reg)
    for items in (["a"], ["a", "b"]):
        run = env.run(order, items)
        save_history(
            tmp_path / f"{run.instance_id}.json",
            run.history,
            run.instance_id,
            "order",
            {"module": __name__, "attribute": "reg"},
        )
    return tmp_path


def test_record_then_replay_round_trip(recorded: Path):
    report = replay_dir(reg, recorded)
    assert report.ok, str(report)
    assert [r.path.name for r in report.results] == ["order-1.json", "order-2.json"]
    replayed = report.results[1].run
    assert replayed is not None
    assert (replayed.status, replayed.output, replayed.custom_status) == (
        "completed",
        ["r-a", "r-b"],
        "reserved",
    )
    assert replayed.calls(reserve) == ["a", "b"]
    assert str(report).splitlines()[-1] == "2 histories replayed: 2 ok, 0 failed"
    report.raise_for_failures()


def test_changed_code_fails_per_file_with_a_readable_message(recorded: Path):
    report = replay_dir(changed, recorded)
    assert [r.ok for r in report.results] == [True, False]  # one item: the order is the same
    failure = report.failures[0]
    assert failure.path.name == "order-2.json"
    assert "input 'b' instead of 'a'" in failure.message
    assert "ctx.patched" in failure.message
    assert "  #  time" in failure.message  # the recorded timeline
    assert str(failure).startswith(f"FAILED  {failure.path}")
    with pytest.raises(NonDeterminismError, match="1 failed"):
        report.raise_for_failures()


def test_production_replay_only_compares_names(recorded: Path):
    assert replay_dir(changed, recorded, strict=False).ok


def test_env_replay_takes_events_text_or_a_path(recorded: Path):
    env = TestEnv(reg)
    path = recorded / "order-2.json"
    text = path.read_text()
    for source in (path, text, env.run(order, ["a", "b"], instance_id="order-2").history):
        assert env.replay(source).output == ["r-a", "r-b"]
    with pytest.raises(NonDeterminismError, match="no longer replays"):
        TestEnv(changed).replay(path)


def test_a_running_instance_replays_to_its_wait():
    env = TestEnv(reg)
    run = env.run(waits)
    replayed = env.replay(history_to_json(run.history))
    assert replayed.status == "running"
    assert replayed.waiting_for == ["event 'Go'"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "other"}', "is not an orchestrate history"),
        ('{"format": "orchestrate.history", "version": 1, "events": []}', "does not begin"),
        (json.dumps([{"type": "Nope", "at": "2024-01-01T00:00:00Z"}]), "unknown type 'Nope'"),
    ],
)
def test_bad_files_fail_their_own_result_naming_the_file(tmp_path: Path, content, fragment):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = replay_dir(reg, tmp_path).results[0]
    assert not result.ok
    assert fragment in result.message
    assert "bad.json" in result.message


def test_unknown_orchestration_is_a_failed_result(recorded: Path):
    result = replay_dir(Registry(), recorded).results[0]
    assert not result.ok and "no orchestration named 'order'" in result.message


def test_missing_directory_is_an_error_naming_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"no history file or directory at .*nowhere"):
        replay_dir(reg, tmp_path / "nowhere")


def test_recorded_registry_note_is_read_back_and_loads(recorded: Path):
    note = recorded_registry(recorded / "order-1.json")
    assert note == {"module": __name__, "attribute": "reg"}
    assert load_registry(f"{note['module']}:{note['attribute']}") is reg
    assert recorded_registry(recorded / "missing.json") is None


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("no_colon", "must look like"),
        ("no_such_module_xyz:reg", "cannot import"),
        (f"{__name__}:nope", f"module '{__name__}' has no attribute 'nope'; pass"),
        (f"{__name__}:pytest", f"{__name__}:pytest is a module, not an orchestrate Registry"),
    ],
)
def test_load_registry_errors_say_how_to_fix(ref, fragment):
    with pytest.raises(LookupError, match=fragment) as caught:
        load_registry(ref)
    if ":" in ref:
        assert "--orch-replay-registry" in str(caught.value)
        assert "--orch-registry " not in str(caught.value)
