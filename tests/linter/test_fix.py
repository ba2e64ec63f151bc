"""``--fix`` and ``--diff``: the safe rewrites, with the real context name; nothing unsafe."""

from __future__ import annotations

import textwrap

import pytest

from linter import lint_source, main


def _fix(source: str) -> str:
    return lint_source(textwrap.dedent(source), fix=True)[1]


def test_safe_rewrites_use_the_context_parameter_name():
    source = """\
        import datetime, logging, random, time, uuid
        from orchestrate import OrchestrationContext

        async def saga(c: OrchestrationContext, xs):
            now = datetime.datetime.now()
            ident = uuid.uuid4()
            pick = random.choice(xs)
            time.sleep(2.5)
            logging.info("done %s", pick)
            return now, ident
        """
    assert _fix(source) == textwrap.dedent("""\
        import datetime, logging, random, time, uuid
        from orchestrate import OrchestrationContext

        async def saga(c: OrchestrationContext, xs):
            now = c.now()
            ident = c.uuid()
            pick = c.random().choice(xs)
            await c.sleep(2.5)
            c.log.info("done %s", pick)
            return now, ident
        """)


UNSAFE = [
    # a sync orchestration cannot await
    "def saga(ctx: OrchestrationContext, xs):\n    time.sleep(1)\n",
    # sleep used as a value, not a statement
    "async def saga(ctx: OrchestrationContext, xs):\n    return time.sleep(1)\n",
    # arguments change the meaning
    "async def saga(ctx: OrchestrationContext, xs):\n    return datetime.datetime.now(tz)\n",
    "async def saga(ctx: OrchestrationContext, xs):\n    return uuid.uuid4(x)\n",
    # utcnow/today are not the listed rewrite
    "async def saga(ctx: OrchestrationContext, xs):\n    return datetime.datetime.utcnow()\n",
    # print is never rewritten
    "async def saga(ctx: OrchestrationContext, xs):\n    print(xs)\n",
    # in a helper there is no context to use
    "def helper():\n    return datetime.datetime.now()\n\n"
    "async def saga(ctx: OrchestrationContext, xs):\n    return helper()\n",
    # nested function: not the orchestration's own body
    "async def saga(ctx: OrchestrationContext, xs):\n    def inner():\n"
    "        return uuid.uuid4()\n    return inner()\n",
    # suppressed findings are not fixed
    "async def saga(ctx: OrchestrationContext, xs):\n    return uuid.uuid4()  # noqa: ORC102\n",
    # other frameworks keep their own API
    "from temporalio import workflow\n@workflow.defn\nclass W:\n    @workflow.run\n"
    "    async def run(self):\n        time.sleep(1)\n",
]


@pytest.mark.parametrize("body", UNSAFE)
def test_unsafe_cases_are_never_rewritten(body):
    source = (
        "import datetime, random, time, uuid\nfrom orchestrate import OrchestrationContext\n" + body
    )
    findings, fixed = lint_source(source, fix=True)
    assert fixed == source
    assert not any(f.fixable for f in findings)


FLOW = """\
import uuid
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, x):
    print(x)
    return uuid.uuid4()
"""


def test_diff_shows_the_rewrite_and_changes_nothing(project, capsys):
    root = project({"flow.py": FLOW})
    assert main(["--diff", "flow.py"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["--- a/flow.py", "+++ b/flow.py"]
    assert "-    return uuid.uuid4()\n+    return ctx.uuid()\n" in out
    assert (root / "flow.py").read_text() == FLOW


def test_fix_writes_files_and_reports_what_is_left(project, capsys):
    root = project({"flow.py": FLOW})
    assert main(["--fix", "flow.py"]) == 1
    captured = capsys.readouterr()
    assert (root / "flow.py").read_text() == FLOW.replace("uuid.uuid4()", "ctx.uuid()")
    assert captured.out.startswith("flow.py:5:5: ORC106 ")
    assert "ORC102" not in captured.out
    assert "Fixed 1 file(s)." in captured.err
    assert main(["--diff", "flow.py"]) == 0


def test_fix_keeps_the_file_encoding(project):
    root = project({})
    text = "# -*- coding: latin-1 -*-\n" + FLOW.replace("print(x)", "print('caf\xe9')")
    (root / "flow.py").write_bytes(text.encode("latin-1"))
    assert main(["--fix", "flow.py"]) == 1
    assert (root / "flow.py").read_bytes().decode("latin-1") == text.replace(
        "uuid.uuid4()", "ctx.uuid()"
    )
