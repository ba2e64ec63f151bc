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


# -- every way each framework declares a workflow ---------------------------------------

DECLARATIONS = [
    pytest.param(
        "dbos",
        """\
        import time
        from dbos import DBOS

        def test_recovery(dbos: DBOS) -> None:
            @DBOS.workflow()
            def wf() -> float:
                return time.time()  # expect
        """,
        id="dbos-nested-in-test",
    ),
    pytest.param(
        "dbos",
        """\
        import time
        from dbos import DBOS, DBOSConfiguredInstance

        @DBOS.dbos_class()
        class Orders(DBOSConfiguredInstance):
            @DBOS.workflow()
            def place(self) -> float:
                return time.time()  # expect

            @classmethod
            @DBOS.workflow()
            def audit(cls) -> float:
                return time.time()  # expect

            @staticmethod
            @DBOS.workflow()
            async def tidy() -> float:
                return time.time()  # expect
        """,
        id="dbos-methods",
    ),
    pytest.param(
        "dbos",
        """\
        import time
        from dbos import DBOS

        def body() -> float:
            return time.time()  # expect

        def test_wrapped() -> None:
            wf = DBOS.workflow()(body)
        """,
        id="dbos-decorator-call",
    ),
    pytest.param(
        "temporal",
        """\
        import time
        from temporalio import workflow

        @workflow.defn
        class Greeting:
            def __init__(self) -> None:
                self.started = time.time()  # expect

            @workflow.run
            async def run(self) -> None: ...

        @workflow.defn
        class Ticket:
            @workflow.init
            def __init__(self, name: str) -> None:
                self.started = time.time()  # expect

            @workflow.run
            async def run(self, name: str) -> None: ...
        """,
        id="temporal-init",
    ),
    pytest.param(
        "temporal",
        """\
        import time
        from temporalio import workflow

        async def test_signal() -> None:
            @workflow.defn
            class Local:
                @workflow.run
                async def run(self) -> float:
                    return time.time()  # expect

                @workflow.update
                async def bump(self) -> float:
                    return time.time()  # expect
        """,
        id="temporal-nested-class",
    ),
    pytest.param(
        "temporal",
        """\
        import time
        from temporalio import workflow

        class Base:
            def __init__(self) -> None:
                self.started = 0.0

            @workflow.query
            def age(self) -> float:
                return time.time() - self.started  # expect

        @workflow.defn
        class Child(Base):
            @workflow.run
            async def run(self) -> None: ...
        """,
        id="temporal-handler-on-base-class",
    ),
    pytest.param(
        "durabletask",
        """\
        import time
        from durabletask import worker

        def orchestrator(ctx, _):
            yield ctx.call_activity("a", input=time.time())  # expect

        def test_run() -> None:
            def local(ctx, _):
                yield ctx.call_activity("a", input=time.time())  # expect

            def named(ctx, _):
                yield ctx.call_activity("a", input=time.time())  # expect

            with worker.TaskHubGrpcWorker() as w:
                w.add_orchestrator(orchestrator)
                w.add_orchestrator(local)
                w.add_named_orchestrator("n", named)
        """,
        id="durabletask-registered-unannotated",
    ),
    pytest.param(
        "durabletask",
        """\
        import time
        from durabletask import task

        def test_nested() -> None:
            def orch(ctx: task.OrchestrationContext, _):
                yield ctx.call_activity("a", input=time.time())  # expect
        """,
        id="durabletask-nested-annotated",
    ),
    pytest.param(
        "azure-durable",
        """\
        import time
        import azure.durable_functions as df

        app = df.DFApp()

        @app.orchestration_trigger(context_name="context")
        def chain(context):
            yield context.call_activity("a", time.time())  # expect

        def orchestrator_function(context):
            yield context.call_activity("a", time.time())  # expect

        main = df.Orchestrator.create(orchestrator_function)

        def typed(context: df.DurableOrchestrationContext):
            yield context.call_activity("a", time.time())  # expect
        """,
        id="azure-trigger-create-annotation",
    ),
    pytest.param(
        "azure-durable",
        """\
        import time
        from azure.durable_functions.models import OrchestratorState

        def test_harness_orchestrator() -> None:
            def generator_function(context):
                yield context.call_activity("a", time.time())  # expect

            def not_an_orchestrator(items):
                yield from items
        """,
        id="azure-undeclared-generator",
    ),
    pytest.param(
        "durabletask",
        """\
        import time
        from durabletask import task

        def test_child() -> None:
            def child(ctx, _):
                yield ctx.create_timer(time.time())  # expect
        """,
        id="durabletask-undeclared-generator",
    ),
]


@pytest.mark.parametrize(("profile", "source"), DECLARATIONS)
def test_every_declaration_is_found(profile, source):
    source = textwrap.dedent(source)
    expected = [n for n, line in enumerate(source.splitlines(), 1) if line.endswith("# expect")]
    found = _lint(source, profiles=(profile,))
    assert [(line, code) for line, code, _ in found] == [(n, "ORC101") for n in expected]
    assert _lint(source) == []  # the default profile does not claim them


def test_azure_orchestrator_typed_durable_context_is_not_the_default_profile():
    source = """\
        from datetime import datetime
        import azure.durable_functions as df

        def orchestrator(context: df.DurableOrchestrationContext):
            started = datetime.utcnow()
            yield context.call_activity("a", str(started))
        """
    assert _lint(source) == []
    found = _lint(source, profiles=("azure-durable",))
    assert [(line, code) for line, code, _ in found] == [(5, "ORC101")]
    assert "context.current_utc_datetime" in found[0][2]
    assert "context.now()" not in found[0][2]


def test_sibling_helper_of_a_nested_workflow_is_followed():
    source = """\
        import time
        from dbos import DBOS

        def test_it() -> None:
            def stamp() -> float:
                return time.time()

            @DBOS.workflow()
            def wf() -> float:
                return stamp()
        """
    found = _lint(source, profiles=("dbos",))
    assert [(line, code) for line, code, _ in found] == [(6, "ORC101")]
    assert "(via test_it.wf -> stamp)" in found[0][2]


def test_framework_packages_are_trusted(project):
    root = project(
        {
            "dbos/__init__.py": """\
                import time

                class DBOS:
                    @staticmethod
                    def workflow():
                        return lambda f: f

                    @staticmethod
                    def sleep(seconds: float) -> None:
                        time.sleep(seconds)

                @DBOS.workflow()
                def internal() -> None:
                    time.sleep(1)
                """,
            "app.py": """\
                import time
                from dbos import DBOS

                @DBOS.workflow()
                def wf() -> None:
                    DBOS.sleep(1)
                    time.sleep(1)
                """,
        }
    )
    from linter import lint_paths

    result = lint_paths(
        [str(root / "dbos/__init__.py"), str(root / "app.py")],
        Config(root=str(root), profiles=("dbos",)),
        jobs=1,
    )
    assert [(f.path, f.line, f.code) for f in result.findings] == [("app.py", 7, "ORC103")]


def test_a_workflow_method_handed_on_as_a_tool_is_checked():
    source = """\
        from agents import Agent, Runner, function_tool
        from temporalio import workflow

        @workflow.defn
        class Tools:
            @workflow.run
            async def run(self) -> None:
                agent = Agent(name="a", tools=[function_tool(self.run_tool)])
                await Runner.run(agent, "hi")

            async def run_tool(self) -> None:
                print("tool ran")
        """
    found = _lint(source, profiles=("temporal",))
    assert [(line, code) for line, code, _ in found] == [(12, "ORC106")]
    assert "(via Tools.run -> run_tool)" in found[0][2]
