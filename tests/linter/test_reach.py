"""Helpers are followed within a module and across modules; findings show the call chain."""

from __future__ import annotations

from linter import Config, lint_paths
from tests.linter.conftest import lint


def _run(root, *names):
    result = lint_paths([str(root / n) for n in names], Config(root=str(root)), jobs=1)
    return [(f.path, f.line, f.col, f.code, f.chain) for f in result.findings], result


def test_helper_chain_across_two_modules(project):
    root = project(
        {
            "app/__init__.py": "",
            "app/pricing.py": """\
            from datetime import datetime

            def _now():
                return datetime.now()

            def price_for(order):
                return _now()
            """,
            "app/saga.py": """\
            from orchestrate import OrchestrationContext

            from app.pricing import price_for

            async def order_saga(ctx: OrchestrationContext, order):
                return price_for(order)
            """,
        }
    )
    findings, result = _run(root, "app/saga.py")
    assert findings == [
        ("app/pricing.py", 4, 12, "ORC101", ("order_saga", "price_for", "_now")),
    ]
    message = result.findings[0].message
    assert message.endswith("(via order_saga -> price_for -> _now)")
    assert result.parsed == 1  # the helper module is parsed on demand, not as a candidate


def test_relative_import_and_module_attribute_helpers(project):
    root = project(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "import random\n\ndef pick(xs):\n    return random.choice(xs)\n",
            "pkg/flows.py": """\
            from orchestrate import OrchestrationContext
            from . import util
            from .util import pick as choose

            async def saga(ctx: OrchestrationContext, xs):
                return util.pick(xs), choose(xs)
            """,
        }
    )
    findings, _ = _run(root, "pkg/flows.py")
    assert findings == [("pkg/util.py", 4, 12, "ORC102", ("saga", "pick"))]


def test_activity_imported_from_another_module_is_flagged_when_called(project):
    root = project(
        {
            "acts.py": """\
            from orchestrate import Registry
            import time
            reg = Registry()

            @reg.activity
            def charge(order):
                time.sleep(1)
            """,
            "flow.py": """\
            from orchestrate import OrchestrationContext
            from acts import charge

            async def saga(ctx: OrchestrationContext, order):
                charge(order)
                return await ctx.activity(charge, order)
            """,
        }
    )
    findings, _ = _run(root, "flow.py")
    assert findings == [("flow.py", 5, 5, "ORC112", ("saga",))]


def test_nested_functions_lambdas_and_self_methods():
    source = """\
        import random
        import time
        from temporalio import workflow

        @workflow.defn
        class Orders:
            @workflow.run
            async def run(self, order):
                return self._price(order)

            def _price(self, order):
                return time.time()

            def unused(self):
                return time.time()

        async def saga(ctx: "OrchestrationContext", xs):
            def pick():
                return random.random()
            key = lambda x: random.random()
            return sorted(xs, key=key), pick()
        """
    from linter import lint_source

    findings, _ = lint_source(
        __import__("textwrap").dedent(source),
        config=Config(profiles=("orchestrate", "temporal")),
    )
    assert [(f.line, f.code, f.chain) for f in findings] == [
        (12, "ORC101", ("Orders.run", "_price")),
        (19, "ORC102", ("saga", "pick")),
        (20, "ORC102", ("saga",)),
    ]


def test_context_passed_to_a_helper_is_recognised():
    source = """\
        from orchestrate import OrchestrationContext

        async def notify(context, order):
            if context.is_replaying:
                await context.activity("notify", order)

        async def saga(ctx: OrchestrationContext, order):
            await notify(ctx, order)
        """
    assert lint(source) == [(4, 8, "ORC115")]


def test_recursion_and_mutual_calls_terminate():
    source = """\
        import time
        from orchestrate import OrchestrationContext

        def a(n):
            return b(n - 1) if n else time.time()

        def b(n):
            return a(n)

        async def saga(ctx: OrchestrationContext, n):
            return a(n)
        """
    assert lint(source) == [(5, 31, "ORC101")]


def test_other_orchestrations_are_not_entered_as_helpers():
    source = """\
        import time
        from orchestrate import OrchestrationContext

        async def child(ctx: OrchestrationContext, x):
            return time.time()

        async def parent(ctx: OrchestrationContext, x):
            return await child(ctx, x)
        """
    from linter import lint_source

    findings, _ = lint_source(__import__("textwrap").dedent(source))
    assert [(f.line, f.chain) for f in findings] == [(5, ("child",))]


def test_installed_packages_are_never_followed(tmp_path):
    from linter.modules import ModuleLoader

    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "vendor.py").write_text("import time\ndef now():\n    return time.time()\n")
    (tmp_path / "local.py").write_text("def f():\n    return 1\n")
    loader = ModuleLoader({})
    assert loader.find("vendor", str(site)) is None
    assert loader.find("local", str(tmp_path)) is not None
