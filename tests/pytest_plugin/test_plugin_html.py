"""The plugin's ``--orch-html DIR``: a failed test leaves one HTML timeline per failing instance
(and its fuzz finding); a passing test leaves nothing."""

from __future__ import annotations

import pytest

from .test_plugin import FLOW, _run

pytest_plugins = ["pytester"]

TESTS = """
from testkit import fail


def test_passes(orch_env):
    orch_env.run(order, ["a"], instance_id="fine")


def test_one_instance_fails(orch_env):
    orch_env.run(order, ["a"], instance_id="healthy")
    orch_env.script(reserve, fail("out of <stock>"))
    run = orch_env.run(order, ["b"], instance_id="<bad>/id")
    assert run.status == "completed", "deliberate"


def test_wrong_output(orch_env):
    run = orch_env.run(order, ["c"], instance_id="root")
    assert run.output == [], "deliberate"
"""


def test_failed_tests_write_html_timelines(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=FLOW.replace("{ORDER}", "items") + TESTS)
    out = pytester.path / "html"
    result = _run(pytester, "--orch-html", str(out))
    result.assert_outcomes(passed=1, failed=2)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "test_flow.py_test_one_instance_fails--bad_id.html",  # only the failed instance
        "test_flow.py_test_wrong_output--root.html",  # none failed: the top-level one
    ]
    page = (out / names[0]).read_text()
    assert "<script" not in page and "&lt;bad&gt;/id" in page
    assert "out of &lt;stock&gt;" in page and '<svg class="timeline"' in page


def test_the_option_wants_a_directory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=FLOW.replace("{ORDER}", "items") + TESTS)
    taken = pytester.makefile(".txt", taken="x")
    result = _run(pytester, "--orch-html", str(taken))
    result.stderr.fnmatch_lines(["*--orch-html*this is a file; give a directory*"])
