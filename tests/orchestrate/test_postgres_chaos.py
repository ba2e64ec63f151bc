"""Chaos on PostgreSQL: four `orchestrate worker` processes on one database run 500 mixed
instances (chains, fan-outs, timers, events, parents with a child, long heartbeating activities)
while workers are `kill -9`ed and SIGTERMed at random (seeded) and restarted, and the database
server is restarted (`pg_ctl restart`) half-way through. Every instance completes exactly once
with the right output and a gap-free history (`bench.chaos.run` checks it). Real processes and
real time, so leases are short (1 s)."""

from __future__ import annotations

from pathlib import Path

from bench.chaos import run
from testkit.postgres import PostgresCluster


def test_four_workers_killed_at_random_and_a_server_restart_lose_and_duplicate_nothing(
    tmp_path: Path, pg_cluster: PostgresCluster, pg_url: str
) -> None:
    restarts: list[str] = []

    def restart() -> None:
        pg_cluster.pg_ctl("restart")
        restarts.append("done")

    report = run(
        tmp_path,
        db=pg_url,
        restart=restart,
        instances=500,
        workers=4,
        kills=6,
        lease=1.0,
        grace=1.0,
        spacing=(0.3, 0.8),
        timeout=90,
        seed=12,
    )
    assert restarts == ["done"]
    assert report.kills + report.terms == 6
    assert report.recovery < 20, report
    print(f"postgres chaos: {report}")
