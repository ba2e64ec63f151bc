"""The pytest plugin end to end, with pytester (in-process runs: few, and fast)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

FLOW = """
from datetime import timedelta
import pytest
from orchestrate import OrchestrationContext, Registry
from testkit import ok

registry = Registry()


@registry.activity
def reserve(item: str) -> str:
    return "r-" + item


@registry.orchestration
async def order(ctx: OrchestrationContext, items: list) -> list:
    done = [await ctx.activity(reserve, item) for item in {ORDER}]
    await ctx.sleep(timedelta(days=2))
    return done
"""

TESTS = """

@pytest.mark.orch(start="2030-01-01T00:00:00Z", strict=True)
def test_order(orch_env, fake_clock):
    assert orch_env.clock is fake_clock
    orch_env.script(reserve, ok("scripted"))
    run = orch_env.run(order, ["a", "b"])
    assert run.output == ["scripted", "scripted"]
    assert fake_clock.now().isoformat() == "2030-01-03T00:00:00+00:00"


def test_default_start(orch_env):
    orch_env.run(order, ["c"])
    assert orch_env.clock.now().isoformat() == "2024-01-03T00:00:00+00:00"
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Hypothesis' plugin re-imports its statistics module on every in-process session (seconds).
    return pytester.runpytest_inprocess("-p", "no:hypothesispytest", *args)


def _write_flow(pytester: pytest.Pytester, order: str = "items", tests: str = TESTS) -> None:
    pytester.makepyfile(test_flow=FLOW.replace("{ORDER}", order) + tests)


def test_fixtures_and_marker(pytester: pytest.Pytester):
    _write_flow(pytester)
    _run(pytester).assert_outcomes(passed=2)


def test_failing_test_shows_each_instances_timeline(pytester: pytest.Pytester):
    _write_flow(
        pytester,
        tests="""

def test_breaks(orch_env):
    orch_env.run(order, ["a"], instance_id="first")
    orch_env.run(order, ["b"], instance_id="second")
    assert False, "deliberate"
""",
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- orchestrate timelines -*",
            "instance 'first' (order): completed",
            "*1  2024-01-01T00:00:00Z  OrchestrationStarted*order*",
            "instance 'second' (order): completed",
            "*TimerFired*",
        ]
    )


def test_record_then_replay_and_a_changed_orchestration_fails(pytester: pytest.Pytester):
    _write_flow(pytester)
    saved = pytester.path / "histories"
    _run(pytester, "--orch-record-histories", str(saved)).assert_outcomes(passed=2)
    files = sorted(p.name for p in saved.iterdir())
    assert [name[: -len("-0123456789.json")] for name in files] == [
        "test_flow.py_test_default_start__order-1",
        "test_flow.py_test_order__order-1",
    ]
    assert json.loads((saved / files[0]).read_text())["recorded_by"]["attribute"] == "registry"

    registry = ("--orch-replay-registry", "test_flow:registry")
    _run(pytester, "--orch-replay", str(saved), *registry).assert_outcomes(passed=4)

    _write_flow(pytester, order="reversed(items)")  # changed without ctx.patched()
    result = _run(pytester, "--orch-replay", str(saved), *registry)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_order__order-1-*.json: NonDeterminismError: order (order-1): at step 2 the "
            "history has ActivityScheduled('reserve'), but the code issued the same command "
            "with input 'b' instead of 'a'*",
            "*Keep the old path behind `if ctx.patched('change-id'):`*",
        ]
    )


def test_bulk_exported_production_histories_replay_in_ci(pytester: pytest.Pytester):
    """The README's CI recipe: `orchestrate export-history --all DIR` on the production
    database, then `pytest --orch-replay DIR` against today's code."""
    import importlib.util

    from orchestrate import Client, Worker
    from orchestrate.cli import main
    from orchestrate.stores.sqlite import SqliteStore

    _write_flow(pytester, tests="")
    spec = importlib.util.spec_from_file_location("flow_in_production", pytester.path / "test_flow.py")
    assert spec is not None and spec.loader is not None
    production = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(production)  # under another name: pytester imports test_flow afresh
    db = str(pytester.path / "production.db")
    store = SqliteStore(db)
    client, worker = Client(store), Worker(production.registry, store)
    # ids that differ only in case get files that differ in more than case (macOS, Windows)
    ids = ["order-0", "order-1", "order-2", "Order-0"]
    for key, items in zip(ids, [["a", "b"], ["c"], ["d", "e"], ["f", "g"]], strict=True):
        client.start("order", items, instance_id=key)
    while worker.poll_once():
        pass
    store.close()
    histories = pytester.path / "histories"
    assert main(["export-history", "--all", "--status", "running", "--db", db, str(histories)]) == 0
    files = list(histories.iterdir())
    assert len({p.name.lower() for p in files}) == 4
    assert {p.stat().st_mode & 0o777 for p in files} == {0o600}  # as the database: payloads

    replay = ("--orch-replay", str(histories), "--orch-replay-registry", "test_flow:registry")
    _run(pytester, *replay).assert_outcomes(passed=4)
    _write_flow(pytester, order="reversed(items)", tests="")  # changed without ctx.patched()
    result = _run(pytester, *replay)
    result.assert_outcomes(passed=1, failed=3)  # the one-item order still replays
    result.stdout.fnmatch_lines(["*order-0.json: NonDeterminismError: order (order-0)*"])


def test_ini_equivalents_and_a_malformed_history_fails_its_own_item(pytester: pytest.Pytester):
    _write_flow(pytester, tests="")
    saved = pytester.mkdir("saved")
    (saved / "broken.json").write_text("{not json")
    pytester.makeini(
        f"[pytest]\norch_replay = {saved}\norch_replay_registry = test_flow:registry\n"
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*broken.json: StoreError: *broken.json is not valid JSON*"])


def test_replay_never_imports_or_executes_what_a_history_file_names(pytester: pytest.Pytester):
    _write_flow(pytester)
    saved = pytester.path / "histories"
    _run(pytester, "--orch-record-histories", str(saved)).assert_outcomes(passed=2)
    marker = pytester.path / "marker"
    pytester.makepyfile(  # importable from the test directory, and a file at a known path
        hostile=f"import pathlib\npathlib.Path({str(marker)!r}).write_text('executed')\n"
    )
    for path in saved.iterdir():
        doc = json.loads(path.read_text())
        doc["recorded_by"] = {"module": "hostile", "file": str(pytester.path / "hostile.py"),
                              "attribute": "registry"}
        path.write_text(json.dumps(doc))
    args = ("--orch-replay", str(saved), "--orch-replay-registry", "test_flow:registry")
    _run(pytester, *args).assert_outcomes(passed=4)
    assert not marker.exists()
    result = _run(pytester, "--orch-replay", str(saved))  # no registry configured: refused
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not marker.exists()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("test_flow:nope", "*--orch-replay-registry test_flow:nope: module 'test_flow' has no "
         "attribute 'nope'; pass --orch-replay-registry test_flow:NAME*"),
        ("app.nope:registry", "*--orch-replay-registry app.nope:registry: cannot import "
         "'app.nope'*"),
        ("test_flow:order", "*test_flow:order is a function, not an orchestrate Registry*"),
    ],
)  # fmt: skip
def test_a_bad_replay_registry_is_one_usage_error_not_a_failure_per_file(
    pytester: pytest.Pytester, reference: str, message: str
):
    _write_flow(pytester)
    saved = pytester.path / "histories"
    _run(pytester, "--orch-record-histories", str(saved)).assert_outcomes(passed=2)
    result = _run(pytester, "--orch-replay", str(saved), "--orch-replay-registry", reference)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "LookupError" not in result.stdout.str() + result.stderr.str()


def test_missing_registry_is_a_clear_per_test_failure(pytester: pytest.Pytester):
    pytester.makepyfile("def test_x(orch_env):\n    pass\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*orch_env needs a Registry: define `registry = Registry()`*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--orch-replay", "nowhere"], "*--orch-replay nowhere: no such directory or file*"),
        (["--orch-fuzz-examples", "lots"], "*--orch-fuzz-examples 'lots': expected a positive*"),
        (["--orch-replay-registry", "flat"], "*expected MODULE:ATTR*"),
        (["--orch-replay", "."], "*--orch-replay .: name the Registry to replay with*"),
        (["-k", "marked"], "*unknown option(s) colour; valid options are evict_every_turn*"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_fix(pytester: pytest.Pytester, args, message):
    _write_flow(
        pytester, tests="\n\n@pytest.mark.orch(colour='red')\ndef test_marked():\n    pass\n"
    )
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


FUZZED = """
from orchestrate import OrchestrationContext, Registry
from testkit import fail, ok

reg = Registry()
SEEN = {}


@reg.activity
def add(x: int) -> int:
    return x + 1


@reg.orchestration
async def memo(ctx: OrchestrationContext, x: int) -> int:
    SEEN[ctx.instance_id] = SEEN.get(ctx.instance_id, 0) + 1
    if SEEN[ctx.instance_id] > 1:
        return await ctx.activity(add, -x)
    return await ctx.activity(add, x)


def test_fuzz_passes(orch_fuzz):
    report = orch_fuzz("memo_fixed", input=1, hash_seeds=0)
    assert report.examples == {EXAMPLES}


@reg.orchestration(name="memo_fixed")
async def fixed(ctx: OrchestrationContext, x: int) -> int:
    return await ctx.activity(add, x)


def test_fuzz_finds(orch_fuzz):
    orch_fuzz(memo, input=1, hash_seeds=0, seed=1)
"""


def test_orch_fuzz_honours_the_examples_option_and_shows_the_shrunk_schedule(
    pytester: pytest.Pytester,
):
    pytester.makepyfile(FUZZED.replace("{EXAMPLES}", "7"))
    result = pytester.runpytest_inprocess("--orch-fuzz-examples", "7")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*replay safety broke for memo*",
        "*orchestrate fuzz: shrunk schedule*",
        "*1. start memo(1) as 'memo-fz*'",
    ])


def test_the_orchestrate_hypothesis_profiles_are_registered(pytester: pytest.Pytester):
    pytester.makepyfile(
        "from hypothesis import settings\n"
        "def test_profile():\n"
        "    assert settings().derandomize and settings().max_examples == 200\n"
    )
    result = pytester.runpytest_inprocess("--hypothesis-profile", "orchestrate-ci")
    result.assert_outcomes(passed=1)


def test_the_wall_clock_is_real_again_after_a_test_that_left_its_env_open(
    pytester: pytest.Pytester,
):
    _write_flow(
        pytester,
        tests="""
from datetime import UTC, datetime
from testkit import TestEnv


def test_leaves_env_open():
    env = TestEnv(registry, start="2031-01-01T00:00:00Z")
    env.run(order, ["a"])
    assert datetime.now(UTC).year == 2031  # held between drive calls


def test_next_sees_real_time():
    assert datetime.now(UTC).year < 2031
""",
    )
    _run(pytester).assert_outcomes(passed=2)
