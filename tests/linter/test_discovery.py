"""Finding orchestrations: decorators, annotations, configured decorators and profiles."""

from __future__ import annotations

import textwrap

import pytest

from linter import Config, lint_source


def _lint(source: str, **config) -> list[tuple[int, str, str]]:
    findings, _ = lint_source(textwrap.dedent(source), config=Config(**config))
    return [(f.line, f.code, f.message) for f in findings]


@pytest.mark.parametrize(
    "header",
    [
        "@reg.orchestration\nasync def saga(ctx, x):",
        "@reg.orchestration(name='Saga')\nasync def saga(ctx, x):",
        "@orchestration\nasync def saga(ctx, x):",
        "async def saga(ctx: OrchestrationContext, x):",
        "async def saga(ctx: 'OrchestrationContext', x):",
        "async def saga(ctx: orchestrate.OrchestrationContext, x):",
    ],
)
def test_native_orchestrations_are_found(header):
    source = (
        "import time\nimport orchestrate\n"
        "from orchestrate import OrchestrationContext, Registry, orchestration\n"
        f"reg = Registry()\n{header}\n    return time.time()\n"
    )
    lines = [line for line, code, _ in _lint(source) if code == "ORC101"]
    assert lines == [source.count("\n")]


def test_configured_decorator_marks_orchestrations():
    source = """\
        import time
        from myflows import durable

        @durable
        def saga(context, x):
            return time.time()
        """
    assert _lint(source) == []
    found = _lint(source, orchestration_decorators=("myflows.durable",))
    assert [(line, code) for line, code, _ in found] == [(6, "ORC101")]
    assert "use `context.now()`" in found[0][2]


TEMPORAL = """\
    import asyncio
    import time
    from temporalio import workflow

    @workflow.defn
    class Greeting:
        @workflow.run
        async def run(self, name: str) -> str:
            await asyncio.sleep(1)
            await asyncio.gather()
            time.sleep(1)
            return name

        @workflow.signal
        def poke(self) -> None:
            print("poked")
    """


def test_temporal_profile_uses_temporal_replacements_and_allows_its_asyncio():
    assert _lint(TEMPORAL) == []
    found = _lint(TEMPORAL, profiles=("temporal",))
    assert [(line, code) for line, code, _ in found] == [(11, "ORC103"), (16, "ORC106")]
    assert "use `await workflow.sleep(seconds)`" in found[0][2]
    assert "(in Greeting.run)" in found[0][2]
    assert "`workflow.logger`" in found[1][2]


DURABLETASK = """\
    from datetime import datetime
    from durabletask import task

    def orchestrator(ctx: task.OrchestrationContext, _):
        started = datetime.utcnow()
        result = yield ctx.call_activity("hello", input=str(started))
        return result
    """


def test_durabletask_profile():
    assert _lint(DURABLETASK) == []
    found = _lint(DURABLETASK, profiles=("durabletask",))
    assert [(line, code) for line, code, _ in found] == [(5, "ORC101")]
    assert "use `ctx.current_utc_datetime`" in found[0][2]


DBOS = """\
    import random
    from dbos import DBOS

    @DBOS.step()
    def roll() -> int:
        return random.randint(1, 6)

    @DBOS.workflow()
    def game() -> int:
        first = roll()
        return first + random.randint(1, 6)
    """


def test_dbos_profile_allows_direct_step_calls():
    assert _lint(DBOS) == []
    found = _lint(DBOS, profiles=("dbos",))
    assert [(line, code) for line, code, _ in found] == [(11, "ORC102")]
    assert "@DBOS.step()" in found[0][2]


def test_profile_markers_drive_the_prefilter(tmp_path):
    from linter.engine import Linter

    native = Linter(Config())
    temporal = Linter(Config(profiles=("temporal",)))
    assert native.wants(b"async def f(ctx: OrchestrationContext): ...")
    assert not native.wants(b"import os\nprint(os.getcwd())\n")
    assert not native.wants(b"@workflow.defn\nclass A: ...")
    assert temporal.wants(b"@workflow.defn\nclass A: ...")
    assert not native.wants(b"# orch-lint: ignore-file\n@reg.orchestration\n")
