"""Name resolution: aliases and star imports are followed; shadowing names are not flagged."""

from __future__ import annotations

import pytest

from tests.linter.conftest import lint

HEADER = "from orchestrate import OrchestrationContext\n"


def _saga(body: str, imports: str = "") -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"{imports}\n{HEADER}\nasync def saga(ctx: OrchestrationContext, x):\n{lines}\n"


ALIASES = [
    ("import datetime as dt", "dt.datetime.now()", "ORC101", 5),
    ("from datetime import datetime as D", "D.utcnow()", "ORC101", 5),
    ("from datetime import date", "date.today()", "ORC101", 5),
    ("from uuid import uuid4 as new_id", "new_id()", "ORC102", 5),
    ("from time import *", "sleep(1)", "ORC103", 5),
    ("from random import *", "choice(x)", "ORC102", 5),
    ("from os import environ", "environ['A']", "ORC105", 5),
    ("import os.path", "os.path.exists('f')", "ORC105", 5),
    ("import time as t", "t.time()", "ORC101", 5),
    ("import asyncio as aio", "aio.gather()", "ORC104", 5),
]


@pytest.mark.parametrize(("imports", "body", "code", "col"), ALIASES, ids=[a[1] for a in ALIASES])
def test_aliases_are_followed(imports, body, code, col):
    assert lint(_saga(body, imports)) == [(5, col, code)]


SHADOWED = [
    ("import time", "def inner(time):\n    return time.time()\nreturn inner(x)"),
    ("import time", "time = x\nreturn time.time()"),
    ("import datetime", "for datetime in x:\n    datetime.now()"),
    ("import random", "with x as random:\n    random.choice([1])"),
    ("import time", "try:\n    pass\nexcept Exception as time:\n    time.sleep(1)"),
    ("", "return self_time(x)"),
    ("", "return x.time.time()"),
    ("", "clock = x\nclock.sleep(1)"),
    ("", "self.time()"),
    ("import time", "return [time.time() for time in x]"),
    ("import time", "return (lambda time: time.time())(x)"),
    ("from datetime import datetime, timedelta", "return datetime(2024, 1, 1) + timedelta(1)"),
    ("import uuid", "return uuid.UUID(x), uuid.uuid5(uuid.NAMESPACE_DNS, 'a')"),
    ("import random", "return random.Random(42).random()"),
    ("import time", "return 'time.time()'  # time.sleep(1)"),
    ("import time", "return time.localtime(x)"),
    ("", "def open(p):\n    return p\nreturn open('f')"),
]


@pytest.mark.parametrize(("imports", "body"), SHADOWED, ids=[s[1] for s in SHADOWED])
def test_shadowing_and_deterministic_calls_are_not_flagged(imports, body):
    source = _saga(body, imports).replace("x):", "x, self=None):")
    assert lint(source) == []


def test_module_level_rebinding_of_an_imported_name_wins():
    source = """\
        import time
        from orchestrate import OrchestrationContext

        time = object()

        async def saga(ctx: OrchestrationContext, x):
            return time.time()
        """
    assert lint(source) == []


def test_function_level_import_is_resolved():
    source = """\
        from orchestrate import OrchestrationContext

        async def saga(ctx: OrchestrationContext, x):
            from datetime import datetime as when
            return when.now()
        """
    assert lint(source) == [(5, 12, "ORC101")]


def test_global_declaration_resolves_in_the_module():
    source = """\
        import time
        from orchestrate import OrchestrationContext

        async def saga(ctx: OrchestrationContext, x):
            global time
            return time.time()
        """
    assert lint(source) == [(6, 12, "ORC101")]  # a `global` that only reads is not ORC110


def test_activities_and_ordinary_functions_are_never_checked():
    source = """\
        import time
        from orchestrate import Registry

        reg = Registry()

        @reg.activity
        def charge(order):
            time.sleep(1)
            return time.time()

        def helper_never_called_by_an_orchestration():
            return time.time()
        """
    assert lint(source) == []


def test_side_effect_arguments_are_exempt():
    source = """\
        import time
        from orchestrate import OrchestrationContext

        def load_flags():
            return time.time()

        async def saga(ctx: OrchestrationContext, x):
            def stamp():
                return time.time()
            a = await ctx.side_effect(lambda: time.time())
            b = await ctx.side_effect(load_flags)
            c = await ctx.side_effect(stamp)
            return a, b, c
        """
    assert lint(source) == []


def test_relative_star_and_aliased_module_imports():
    source = """\
        import datetime as dt, time
        from orchestrate import OrchestrationContext

        async def saga(ctx: OrchestrationContext, x):
            return dt.date.today(), time.monotonic()
        """
    assert lint(source) == [(5, 12, "ORC101"), (5, 29, "ORC101")]


def test_message_names_the_alias_and_the_real_function():
    from linter import lint_source

    findings, _ = lint_source(_saga("return new_id()", "from uuid import uuid4 as new_id"))
    assert findings[0].message.startswith("`new_id()` (uuid.uuid4) draws a fresh random value")
    assert "use `ctx.uuid()` or `ctx.random()`" in findings[0].message
    assert findings[0].message.endswith("(in saga)")
