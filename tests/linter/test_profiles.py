"""Per-framework behaviour: what each profile trusts, allows, and says in its own API."""

from __future__ import annotations

import textwrap

import pytest

from linter import ALL_RULES, Config, lint_source
from linter.profiles import PROFILES, frameworks_used, is_framework_module
from linter.rules.banned import ExtraBanned


def _lint(source: str, **config) -> list[tuple[int, str, str, str]]:
    findings, _ = lint_source(textwrap.dedent(source), config=Config(**config))
    return [(f.line, f.code, f.message, f.hint) for f in findings]


TEMPORAL_LOOP = """\
    import asyncio
    from agents import Agent, Runner
    from temporalio import workflow
    import some_sdk

    @workflow.defn
    class Waiter:
        @workflow.run
        async def run(self, prompt: str) -> str:
            loop = asyncio.get_running_loop()
            started = loop.time()
            loop.call_later(5, lambda: None)
            result = await Runner.run(Agent(name="a"), prompt)
            await asyncio.shield(asyncio.sleep(1))
            await some_sdk.anything()
            await asyncio.Future()
            return f"{started}{result}"
    """


def test_temporal_trusts_its_loop_and_the_agents_runner():
    assert _lint(TEMPORAL_LOOP, profiles=("temporal",)) == []


def test_temporal_still_reports_awaits_known_to_be_io():
    source = """\
        import aiofiles
        from temporalio import workflow

        @workflow.defn
        class Fetch:
            @workflow.run
            async def run(self, path: str) -> str:
                return await aiofiles.open(path)
        """
    found = _lint(source, profiles=("temporal",))
    assert [(line, code) for line, code, _, _ in found] == [(8, "ORC113")]


def test_temporal_reports_asyncio_wait_its_sandbox_warns_about():
    source = """\
        import asyncio
        from temporalio import workflow

        @workflow.defn
        class Race:
            @workflow.run
            async def run(self, tasks: list) -> None:
                await asyncio.wait(tasks)
        """
    found = _lint(source, profiles=("temporal",))
    assert [(line, code) for line, code, _, _ in found] == [(8, "ORC104")]
    assert "`workflow.wait(...)`" in found[0][2]


def test_durable_calls_are_configurable():
    source = """\
        import flaky_sdk
        from orchestrate import OrchestrationContext

        async def saga(ctx: OrchestrationContext) -> str:
            return await flaky_sdk.durable_call()
        """
    assert [c for _, c, _, _ in _lint(source)] == ["ORC113"]
    assert _lint(source, durable_calls=("flaky_sdk.*",)) == []
    assert _lint(source, durable_calls=("flaky_sdk.durable_call",)) == []


def test_the_awaited_object_is_not_called_a_coroutine():
    source = """\
        import asyncio
        from orchestrate import OrchestrationContext

        async def saga(ctx: OrchestrationContext) -> None:
            await asyncio.Future()
        """
    (found,) = _lint(source)
    assert "coroutine, future or task" in found[2]
    assert "awaits a coroutine" not in found[2]


OUR_API = (
    "ctx.now()",
    "ctx.uuid()",
    "ctx.random()",
    "seeded from the instance id",
    "continue_as_new(state)",
    "ctx tasks",
    "ctx.log",
    "ctx.activity",
    "ctx.sleep",
)


@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "orchestrate"])
@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.CODE)
def test_no_other_profile_speaks_our_api(profile, rule):
    instance = rule({}) if rule is ExtraBanned else rule()
    for is_async in (False, True):
        text = instance.hint(PROFILES[profile], "ctx")
        text += " " + instance.replacement(PROFILES[profile], "ctx", is_async)
        for phrase in OUR_API:
            assert phrase not in text, (profile, rule.CODE, phrase)


def test_dbos_sleep_hint_follows_the_workflow_kind():
    source = """\
        import asyncio
        import time
        from dbos import DBOS

        @DBOS.workflow()
        def sync_wf() -> None:
            time.sleep(1)

        @DBOS.workflow()
        async def async_wf() -> None:
            await asyncio.sleep(1)
        """
    found = _lint(source, profiles=("dbos",))
    assert [(line, code) for line, code, _, _ in found] == [(7, "ORC103"), (11, "ORC103")]
    assert "`DBOS.sleep(seconds)`" in found[0][2]
    assert "`await DBOS.sleep_async(seconds)`" in found[1][2]


def test_framework_detection_needs_an_import_and_a_declaration():
    assert frameworks_used(b"from temporalio import workflow\n@workflow.defn\n") == {"temporal"}
    assert frameworks_used(b"from temporalio import client\nclient.connect()\n") == frozenset()
    both = b"import dbos\nimport durabletask.task\nDBOS.workflow\nadd_orchestrator(f)\n"
    assert frameworks_used(both) == {"dbos", "durabletask"}
    azure = b"import azure.durable_functions as df\n@app.orchestration_trigger()\n"
    assert frameworks_used(azure) == {"azure-durable"}
    assert frameworks_used(b"# we could use temporalio here: workflow.defn\n") == frozenset()
    assert is_framework_module("temporalio.workflow")
    assert not is_framework_module("temporalio_extras")


def test_replaying_read_is_not_a_branch_under_temporal():
    source = """\
        from temporalio import workflow

        @workflow.defn
        class Probe:
            @workflow.query
            def replaying(self) -> bool:
                return workflow.unsafe.is_replaying()

            @workflow.run
            async def run(self) -> None:
                self.was = workflow.unsafe.is_replaying()
                if workflow.unsafe.is_replaying():
                    await workflow.sleep(1)
        """
    found = _lint(source, profiles=("temporal",))
    assert [(line, code) for line, code, _, _ in found] == [(12, "ORC115")]


def test_dbos_concurrent_steps_are_its_documented_pattern():
    source = """\
        import asyncio
        from dbos import DBOS

        @DBOS.step()
        async def fetch(i: int) -> int:
            return i

        @DBOS.workflow()
        async def fan_out() -> list:
            first = asyncio.create_task(fetch(0))
            rest = await asyncio.gather(*[fetch(i) for i in range(3)])
            late = await asyncio.wait_for(fetch(9), timeout=1)
            return [await first, *rest, late]
        """
    found = _lint(source, profiles=("dbos",))
    assert [(line, code) for line, code, _, _ in found] == [(12, "ORC104")]


def test_dbos_allows_a_thread_awaited_at_once():
    source = """\
        import asyncio
        from dbos import DBOS

        def crunch(x: int) -> int:
            return x * 2

        @DBOS.workflow()
        async def wf(x: int) -> int:
            y = await asyncio.to_thread(crunch, x)
            later = asyncio.to_thread(crunch, y)
            return await later
        """
    found = _lint(source, profiles=("dbos",))
    assert [(line, code) for line, code, _, _ in found] == [(10, "ORC104")]


def test_azure_storage_is_io_not_the_durable_functions_framework():
    source = """\
        from azure.storage.blob import aio as blob_aio
        from temporalio import workflow

        @workflow.defn
        class Upload:
            @workflow.run
            async def run(self, name: str) -> None:
                await blob_aio.upload_blob(name)
        """
    found = _lint(source, profiles=("temporal",))
    assert [(line, code) for line, code, _, _ in found] == [(8, "ORC113")]
