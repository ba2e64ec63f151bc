"""HTML timelines from the testkit: `TestEnv.timeline_html`, `testkit.html_report` (the pytest
plugin's ``--orch-html``) and ``orch-fuzz --html``, all the `orchestrate ui` view in one file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestrate import OrchestrationContext, Registry
from testkit import TestEnv, fail
from testkit.fuzz.cli import main
from testkit.html_report import file_name, write_failure_html

reg = Registry()


@reg.activity
def step(x: int) -> int:
    return x + 1


@reg.orchestration
async def child(ctx: OrchestrationContext, x: int) -> int:
    return await ctx.activity(step, x)


@reg.orchestration
async def parent(ctx: OrchestrationContext, x: int) -> int:
    await ctx.sleep(timedelta(hours=1))
    first = await ctx.activity(step, x)
    return await ctx.sub_orchestration(child, first, instance_id=f"{ctx.instance_id}:c")


def test_timeline_html_of_every_instance_or_some(tmp_path: Path) -> None:
    env = TestEnv(reg)
    env.run(parent, 1, instance_id="p")
    page = env.timeline_html(tmp_path / "all.html")
    assert (tmp_path / "all.html").read_text() == page
    assert page.count('<svg class="timeline"') == 2 and "<script" not in page
    assert '<a href="#i1"><rect class="bar child completed"' in page  # the child, in the file
    one = env.timeline_html(instance_ids=["p:c"], title="just <the> child")
    assert one.count('<svg class="timeline"') == 1 and "just &lt;the&gt; child" in one


def test_failure_html_picks_the_failing_instances(tmp_path: Path) -> None:
    env = TestEnv(reg)
    env.run(parent, 1, instance_id="ok")
    env.script(step, fail("boom"))
    env.run(child, 1, instance_id="bad\x1b[0m")
    written = write_failure_html(env, tmp_path / "out", "tests/test_x.py::test_y[1]")
    assert [p.name for p in written] == ["tests_test_x.py_test_y_1--bad_0m.html"]
    assert "boom" in written[0].read_text()


@pytest.mark.parametrize(
    ("parts", "name"),
    [
        (("t.py::test", "a/b"), "t.py_test--a_b.html"),
        (("../../etc", "passwd"), "etc--passwd.html"),
        (("", ""), "--.html"),
        (("x" * 300,), "x" * 150 + ".html"),
    ],
)
def test_file_names_are_safe(parts: tuple[str, ...], name: str) -> None:
    assert file_name(*parts) == name


ROOT = Path(__file__).resolve().parents[2]


def test_orch_fuzz_html_writes_the_finding(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    report = tmp_path / "report.html"
    args = ["tests/testkit/fuzz_cases.py:counted", "--seed", "3", "--hash-seeds", "0"]
    assert main([*args, "--html", str(report)]) == 1
    assert f"wrote the failure's timelines to {report}" in capsys.readouterr().err
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "orch-fuzz: replay safety broke for counted" in page
    assert '<svg class="timeline"' in page
