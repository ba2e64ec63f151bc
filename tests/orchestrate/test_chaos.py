"""The chaos test, short: three worker processes on one SQLite file run 150 mixed instances
(chains, fan-outs, timers, events, parents with a child, long heartbeating activities that resume
from their details) while workers are `kill -9`ed and SIGTERMed at random (seeded) and restarted.
Every instance completes exactly once with the right output and a gap-free history, and the
last completion comes within a few leases of the last restart. Real processes and real time, so
leases are short (1 s) to keep it to seconds; `bench/chaos.py` runs 300 instances on 4 workers
with the default 20 s leases and reports the recovery time."""

from __future__ import annotations

from pathlib import Path

from bench.chaos import run


def test_workers_killed_and_stopped_at_random_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        instances=150,
        workers=3,
        kills=5,
        lease=1.0,
        grace=1.0,
        spacing=(0.2, 0.6),
        timeout=60,
        seed=7,
    )
    assert report.kills + report.terms == 5
    # The dead workers' items come back within one lease (1 s), their locks too; the rest is
    # the remaining work. Generous for a loaded machine, far below the old 300 s leases.
    assert report.recovery < 15, report
    print(f"chaos: {report}")
