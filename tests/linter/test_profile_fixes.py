"""``--fix`` under each framework's profile: its own API, only where valid and equivalent."""

from __future__ import annotations

import textwrap

import pytest

from linter import Config, lint_source


def _fix(source: str, profile: str) -> str:
    return lint_source(textwrap.dedent(source), config=Config(profiles=(profile,)), fix=True)[1]


CASES = [
    pytest.param(
        "temporal",
        """\
        import logging, random, time, uuid
        from datetime import datetime, timezone
        from temporalio import workflow

        @workflow.defn
        class Orders:
            @workflow.run
            async def run(self, xs: list) -> object:
                now = datetime.now(timezone.utc)
                local = datetime.now()
                stamp = time.time()
                ident = uuid.uuid4()
                pick = random.choice(xs)
                time.sleep(2)
                logging.info("picked %s", pick)
                return now, local, stamp, ident
        """,
        """\
        import logging, random, time, uuid
        from datetime import datetime, timezone
        from temporalio import workflow

        @workflow.defn
        class Orders:
            @workflow.run
            async def run(self, xs: list) -> object:
                now = workflow.now()
                local = datetime.now()
                stamp = workflow.time()
                ident = workflow.uuid4()
                pick = workflow.random().choice(xs)
                await workflow.sleep(2)
                workflow.logger.info("picked %s", pick)
                return now, local, stamp, ident
        """,
        id="temporal",
    ),
    pytest.param(
        "temporal",
        """\
        import time
        from temporalio.workflow import defn, run

        @defn
        class Orders:
            @run
            async def run(self) -> float:
                return time.time()
        """,
        None,
        id="temporal-without-workflow-import",
    ),
    pytest.param(
        "durabletask",
        """\
        import time, uuid
        from datetime import datetime, timedelta
        from durabletask import task

        def orchestrator(ctx: task.OrchestrationContext, _):
            started = datetime.utcnow()
            local = datetime.now()
            ident = uuid.uuid4()
            time.sleep(5)
            yield ctx.call_activity("a", input=str((started, local, ident)))
        """,
        """\
        import time, uuid
        from datetime import datetime, timedelta
        from durabletask import task

        def orchestrator(ctx: task.OrchestrationContext, _):
            started = ctx.current_utc_datetime
            local = datetime.now()
            ident = uuid.UUID(ctx.new_uuid())
            yield ctx.create_timer(timedelta(seconds=5))
            yield ctx.call_activity("a", input=str((started, local, ident)))
        """,
        id="durabletask",
    ),
    pytest.param(
        "azure-durable",
        """\
        import uuid
        from datetime import datetime, timezone
        import azure.durable_functions as df

        def orchestrator(context: df.DurableOrchestrationContext):
            started = datetime.now(timezone.utc)
            naive = datetime.utcnow()
            ident = uuid.uuid4()
            yield context.call_activity("a", str((started, naive, ident)))
        """,
        """\
        import uuid
        from datetime import datetime, timezone
        import azure.durable_functions as df

        def orchestrator(context: df.DurableOrchestrationContext):
            started = context.current_utc_datetime
            naive = datetime.utcnow()
            ident = uuid.UUID(context.new_uuid())
            yield context.call_activity("a", str((started, naive, ident)))
        """,
        id="azure-durable",
    ),
    pytest.param(
        "dbos",
        """\
        import asyncio, time
        from datetime import datetime
        from dbos import DBOS

        @DBOS.workflow()
        def sync_wf() -> None:
            time.sleep(1)
            print(datetime.now())

        @DBOS.workflow()
        async def async_wf() -> None:
            time.sleep(1)
            await asyncio.sleep(2)
        """,
        """\
        import asyncio, time
        from datetime import datetime
        from dbos import DBOS

        @DBOS.workflow()
        def sync_wf() -> None:
            DBOS.sleep(1)
            print(datetime.now())

        @DBOS.workflow()
        async def async_wf() -> None:
            await DBOS.sleep_async(1)
            await DBOS.sleep_async(2)
        """,
        id="dbos",
    ),
]


@pytest.mark.parametrize(("profile", "source", "fixed"), CASES)
def test_fix_speaks_the_framework_api(profile, source, fixed):
    assert _fix(source, profile) == textwrap.dedent(fixed or source)


@pytest.mark.parametrize("profile", ["temporal", "durabletask", "dbos", "azure-durable"])
def test_no_profile_fix_writes_our_api(profile):
    for case in CASES:
        if case.values[0] == profile:
            text = _fix(case.values[1], profile)
            for ours in ("ctx.now()", ".uuid()", "ctx.random()", ".log.", "ctx.sleep"):
                assert ours not in text
