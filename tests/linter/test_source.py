"""Reading files: noqa, ignore-file, encodings (PEP 263), syntax errors and the prefilter."""

from __future__ import annotations

import pytest

from linter import Config, lint_paths
from linter.source import DecodeProblem, Source, decode, noqa_codes

SAGA = (
    "import time\nfrom orchestrate import OrchestrationContext\n\n"
    "async def saga(ctx: OrchestrationContext, x):\n"
)


def _lint_files(root, *names):
    result = lint_paths([str(root / n) for n in names], Config(root=str(root)), jobs=1)
    return [(f.path, f.line, f.col, f.code) for f in result.findings], result


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x = 1", None),
        ("x = 1  # noqa", frozenset()),
        ("x = 1  # noqa: ORC101", frozenset({"ORC101"})),
        ("x = 1  # NOQA:ORC101,ORC102", frozenset({"ORC101", "ORC102"})),
        ("x = 1  # noqa: orc103 , ORC104", frozenset({"ORC103", "ORC104"})),
    ],
)
def test_noqa_comment_parsing(line, expected):
    assert noqa_codes(line) == expected


def test_noqa_suppresses_only_the_named_codes(project):
    root = project(
        {
            "f.py": SAGA + "    time.sleep(1)  # noqa: ORC103\n"
            "    time.sleep(2)  # noqa: ORC101\n"
            "    return time.time()  # noqa\n"
        }
    )
    findings, _ = _lint_files(root, "f.py")
    assert findings == [("f.py", 6, 5, "ORC103")]


def test_noqa_in_a_helper_module_applies_there(project):
    root = project(
        {
            "helpers.py": "import time\n\ndef stamp():\n    return time.time()  # noqa: ORC101\n",
            "flow.py": "from helpers import stamp\nfrom orchestrate import OrchestrationContext\n\n"
            "async def saga(ctx: OrchestrationContext, x):\n    return stamp()\n",
        }
    )
    assert _lint_files(root, "flow.py")[0] == []


def test_ignore_file_comment(project):
    root = project({"f.py": "# orch-lint: ignore-file\n" + SAGA + "    time.sleep(1)\n"})
    findings, result = _lint_files(root, "f.py")
    assert findings == [] and result.parsed == 0


def test_syntax_error_is_a_finding_and_the_run_goes_on(project):
    root = project(
        {
            "broken.py": "from orchestrate import OrchestrationContext\n\ndef saga(ctx:\n",
            "ok.py": SAGA + "    time.sleep(1)\n",
        }
    )
    findings, result = _lint_files(root, "broken.py", "ok.py")
    assert findings == [("broken.py", 3, 9, "ORC001"), ("ok.py", 5, 5, "ORC103")]
    assert result.findings[0].message.endswith(
        "does not parse, so orch-lint cannot check it: '(' was never closed"
    )


def test_latin1_file_with_cookie_is_linted(project):
    root = project({})
    text = "# -*- coding: latin-1 -*-\n" + SAGA + "    time.sleep(1)\n    return 'caf\xe9'\n"
    (root / "latin.py").write_bytes(text.encode("latin-1"))
    findings, _ = _lint_files(root, "latin.py")
    assert findings == [("latin.py", 6, 5, "ORC103")]


def test_undecodable_file_is_reported_not_crashed(project):
    root = project({})
    (root / "bad.py").write_bytes(SAGA.encode() + b"    return '\xff\xfe'\n")
    findings, result = _lint_files(root, "bad.py")
    assert findings == [("bad.py", 5, 1, "ORC002")]
    assert "byte 0xff is not valid utf-8" in result.findings[0].message


def test_decode_handles_bom_and_unknown_cookie():
    assert decode(b"\xef\xbb\xbfx = 1\n") == Source("x = 1\n", "utf-8-sig")
    problem = decode(b"# -*- coding: klingon -*-\nx = 1\n")
    assert isinstance(problem, DecodeProblem) and "klingon" in problem.reason


def test_prefilter_never_parses_files_without_markers(project):
    root = project(
        {
            "plain.py": "import time\ntime.sleep(1)\n",
            "broken_plain.py": "def (:\n",
        }
    )
    findings, result = _lint_files(root, "plain.py", "broken_plain.py")
    assert findings == [] and result.parsed == 0 and result.files == 2


@pytest.mark.parametrize(
    "header",
    [
        "from temporalio import workflow\n\n@workflow.defn\nclass W: ...\n",
        "import temporalio.workflow as wf\n\n@wf.defn(name='W')\nclass W: ...\n",
        "from temporalio.workflow import defn, run\n\n@defn\nclass W: ...\n",
    ],
)
def test_temporal_prefilter_wants_every_way_to_declare_a_workflow(header):
    from linter.engine import Linter

    assert Linter(Config(profiles=("temporal",))).wants(header.encode())


def test_temporal_prefilter_skips_files_that_only_use_workflows():
    """A starter or worker mentions workflows everywhere but cannot declare one."""
    from linter.engine import Linter

    starter = b"from temporalio.client import Client\nfrom app.workflows import GreetingWorkflow\n"
    starter += b"async def main(client: Client):\n    await client.execute_workflow(GreetingWorkflow.run)\n"
    assert not Linter(Config(profiles=("temporal",))).wants(starter)
    assert Linter(Config(profiles=("temporal", "orchestrate"))).wants(starter + b"# orchestration")
