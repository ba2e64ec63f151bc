"""Chaos: worker processes on one SQLite file, killed (`kill -9`) and stopped (SIGTERM) at random.

`workers` `orchestrate worker` processes run a mix of instances (chains, fan-outs, timers,
instances waiting for an event, parents with a child, long activities that heartbeat and resume
from their heartbeat details) while a seeded RNG picks, `kills` times, a worker and a signal
(SIGKILL or SIGTERM with a short `--grace`), and restarts it at once. Then it checks what a
durable engine promises: every instance completed exactly once with the right output, with a
gap-free history; and it reports the time from the last restart to the last completion (the
recovery bound: with default leases, about one activity lease, 20 s, plus the remaining work).

Run: ``python bench/chaos.py [--instances 300] [--workers 4] [--kills 8]``; the defaults use
the worker's default leases (20 s). `tests/orchestrate/test_chaos.py` runs a short version with
short leases in `make test`.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrate import Client, OrchestrationContext, Registry, Status, activity_info
from orchestrate.stores.url import open_store

reg = Registry()
ROOT = Path(__file__).resolve().parents[1]


@reg.activity
def step(value: int) -> int:
    return value * 3 + 1


@reg.activity
def square(k: int) -> int:
    return k * k


@reg.activity(heartbeat_timeout=10)
def long_sum(n: int) -> int:
    """About a second of work in 20 steps; a later attempt resumes from the last heartbeat."""
    info = activity_info()
    done = info.heartbeat_details or {"i": 0, "total": 0}
    i, total = done["i"], done["total"]
    while i < n:
        time.sleep(0.05)
        total += i
        i += 1
        info.heartbeat({"i": i, "total": total})
    return int(total)


@reg.orchestration
async def chain(ctx: OrchestrationContext, value: int) -> int:
    for _ in range(3):
        value = await ctx.activity(step, value)
    return value


@reg.orchestration
async def fan_out(ctx: OrchestrationContext, width: int) -> int:
    return sum(await ctx.all([ctx.activity(square, k) for k in range(width)]))


@reg.orchestration
async def sleeper(ctx: OrchestrationContext, millis: int) -> int:
    await ctx.sleep(timedelta(milliseconds=millis))
    return await ctx.activity(step, millis)


@reg.orchestration
async def approval(ctx: OrchestrationContext, value: int) -> int:
    first = await ctx.activity(step, value)
    return first + int(await ctx.event("approve"))


@reg.orchestration
async def parent(ctx: OrchestrationContext, value: int) -> int:
    child = await ctx.sub_orchestration(chain, value, instance_id=f"{ctx.instance_id}:child")
    return int(child) + 1


@reg.orchestration
async def long_job(ctx: OrchestrationContext, n: int) -> int:
    return int(await ctx.activity(long_sum, n))


def _chain(value: int) -> int:
    for _ in range(3):
        value = value * 3 + 1
    return value


def plan(instances: int) -> list[tuple[str, str, int, int]]:
    """(instance id, orchestration, input, expected output), a fixed mix of kinds."""
    kinds = [
        ("chain", lambda i: (i, _chain(i))),
        ("fan_out", lambda i: (10, sum(k * k for k in range(10)))),
        ("sleeper", lambda i: (100 + i, (100 + i) * 3 + 1)),
        ("approval", lambda i: (i, i * 3 + 1 + 100)),
        ("parent", lambda i: (i, _chain(i) + 1)),
        ("long_job", lambda i: (20, sum(range(20)))),
    ]
    out = []
    for i in range(instances):
        name, make = kinds[i % len(kinds)]
        value, expected = make(i)
        out.append((f"{name}-{i}", name, value, expected))
    return out


@dataclass
class Report:
    instances: int
    kills: int
    terms: int
    recovery: float  # seconds from the last restart to the last completion
    total: float


def run(
    directory: Path,
    *,
    instances: int = 300,
    workers: int = 4,
    kills: int = 8,
    lease: float | None = None,
    grace: float = 2.0,
    spacing: tuple[float, float] = (0.5, 2.0),
    timeout: float = 300.0,
    seed: int = 11,
    db: str | None = None,
    restart: Callable[[], None] | None = None,
) -> Report:
    """Run the chaos schedule; raise AssertionError on any broken promise.

    `db`: the workers' store (a SQLite file in `directory` by default, or a store URL such as
    ``postgresql://...``). `restart`, if given, is called once half-way through the kills (e.g.
    to restart the database server under the running workers)."""
    db = db or str(directory / "chaos.db")
    command = [sys.executable, "-m", "orchestrate", "worker", "bench.chaos:reg", "--db", db]
    command += ["--threads", "2", "--grace", str(grace)]
    if lease is not None:
        command += ["--lease", str(lease), "--activity-lease", str(lease)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    errors = directory / "workers.err"
    store = open_store(db)
    client = Client(store)
    work = plan(instances)
    began = time.monotonic()
    for key, name, value, _ in work:
        client.start(name, value, instance_id=key)

    def spawn() -> subprocess.Popen[bytes]:
        with errors.open("ab") as sink:
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=sink)

    procs = [spawn() for _ in range(workers)]
    rng = random.Random(seed)
    counts = {"kill": 0, "term": 0}
    last_restart = time.monotonic()
    try:
        for index in range(kills):
            time.sleep(rng.uniform(*spacing))
            if index == kills // 2:
                for key, name, *_ in work:  # events arrive while workers keep dying
                    if name == "approval":
                        client.raise_event(key, "approve", 100)
            if restart is not None and index == kills // 2:
                restart()
            victim = rng.randrange(workers)
            how = rng.choice(["kill", "term"])
            proc = procs[victim]
            proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            proc.wait(timeout=grace + 30)
            counts[how] += 1
            procs[victim] = spawn()
            last_restart = time.monotonic()
        if kills == 0:
            if restart is not None:
                restart()
            for key, name, *_ in work:
                if name == "approval":
                    client.raise_event(key, "approve", 100)
        deadline = time.monotonic() + timeout
        for key, *_ in work:
            client.wait(key, timeout=max(1.0, deadline - time.monotonic()))
        finished = time.monotonic()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=grace + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
    _check(client, db, work)
    store.close()
    return Report(instances, counts["kill"], counts["term"], finished - last_restart,
                  finished - began)


def _check(client: Client, db: str, work: list[tuple[str, str, int, int]]) -> None:
    for key, _name, _value, output in work:
        state = client.state(key)
        assert (state.status, state.output) == (Status.COMPLETED, output), (key, state.error)
        kinds = [e.kind for e in client.history(key)]
        assert kinds.count("OrchestrationCompleted") == 1, key
        assert kinds.count("OrchestrationStarted") == 1, key
        done = [e.task_id for e in client.history(key) if e.kind == "ActivityCompleted"]
        assert len(done) == len(set(done)), key
    seqs: dict[str, list[int]] = defaultdict(list)
    for key, seq in _rows(db, "SELECT instance_id, seq FROM history ORDER BY instance_id, seq"):
        seqs[key].append(seq)
    lengths: dict[str, Any] = dict(_rows(db, "SELECT instance_id, history_len FROM instances"))
    for key, length in lengths.items():
        assert seqs[key] == list(range(length)), key


def _rows(db: str, sql: str) -> list[Any]:
    """Rows of `sql` read straight from the store's database (SQLite file or PostgreSQL URL)."""
    if db.startswith(("postgresql:", "postgres:")):
        import psycopg

        with psycopg.connect(db) as conn:
            return conn.execute(sql).fetchall()
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--lease", type=float, default=None, help="default: the worker's (20 s)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = run(Path(tmp), instances=args.instances, workers=args.workers,
                     kills=args.kills, lease=args.lease, seed=args.seed)
    print(
        f"chaos: {report.instances} instances, {args.workers} "
        f"workers, {report.kills} kill -9, {report.terms} SIGTERM: all completed exactly once; "
        f"last restart -> last completion {report.recovery:.1f} s (target < 30 s); "
        f"total {report.total:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
