"""The pieces of `make demo` (examples/demo.py) that can run inside the test suite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrate import Status

from . import demo


def test_the_order_runs_durably_and_a_client_sees_every_phase(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    final, phases = demo.run_order(db)

    assert final.status == Status.COMPLETED
    assert phases[-1] == "completed" and phases == sorted(phases, key=demo_phase_order)
    timeline = subprocess.run(
        demo.show_command(final.instance_id, db), capture_output=True, text=True, check=True
    ).stdout
    assert f"instance   {final.instance_id}  (complete_order)" in timeline
    assert "charge_stripe" in timeline and "OrchestrationCompleted" in timeline


def demo_phase_order(phase: str) -> int:
    return ["started", "validated", "reserved", "paid", "fulfilled", "completed"].index(phase)


@pytest.mark.parametrize(("title", "shown", "module", "args"), [*demo.STEPS, demo.TESTS])
def test_every_step_names_files_that_exist_and_shows_what_it_runs(
    title: str, shown: str, module: str, args: list[str]
) -> None:
    for arg in args:
        path = arg.split(":")[0]
        if path.startswith("examples"):
            assert (demo.ROOT / path).exists(), path
            assert arg in shown, f"{shown!r} does not show {arg!r}"
    assert module in ("linter", "testkit.fuzz", "pytest")
