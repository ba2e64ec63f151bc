"""Crash safety: a worker process on a SQLite file is SIGKILLed at random moments and restarted.

200 instances (chains, fan-outs of 20, durable timers, instances waiting for an event) run under
`orchestrate worker` in a subprocess. The test kills it six times at moments drawn from a seeded
RNG (measured in progress, so the outcome is deterministic: after N history rows or N activity
executions), restarts it, and at the end checks what a durable engine promises: every instance
completed with the right output, exactly one completion event each, gap-free history sequence
numbers, every activity call executed at least once, and every re-execution of one call saw the
same idempotency key. Activities record each execution to a side file from inside the activity.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import orchestrate
from orchestrate import Client, Registry, Status
from orchestrate.stores.sqlite import SqliteStore

from ..waiting import wait_until

reg = Registry()
LOG_ENV = "ORCHESTRATE_CRASH_LOG"


def _record(call: str) -> None:
    """Append one execution (the call's identity and the idempotency key it saw)."""
    info = orchestrate.activity_info()
    line = json.dumps({"call": call, "key": info.idempotency_key, "attempt": info.attempt})
    with open(os.environ[LOG_ENV], "a") as log:  # one write(2) per line: survives SIGKILL whole
        log.write(line + "\n")


@reg.activity
def step(arg: dict) -> int:
    _record(f"{arg['id']}/step{arg['n']}")
    return int(arg["value"]) * 3 + 1


@reg.activity
def item(arg: dict) -> int:
    _record(f"{arg['id']}/item{arg['k']}")
    return int(arg["k"]) ** 2


@reg.orchestration
async def chain(ctx, value: int) -> int:
    for n in range(5):
        value = await ctx.activity(step, {"id": ctx.instance_id, "n": n, "value": value})
    return value


@reg.orchestration
async def fan_out(ctx, width: int) -> int:
    tasks = [ctx.activity(item, {"id": ctx.instance_id, "k": k}) for k in range(width)]
    return sum(await ctx.all(tasks))


@reg.orchestration
async def sleeper(ctx, millis: int) -> int:
    await ctx.sleep(timedelta(milliseconds=millis))
    return await ctx.activity(step, {"id": ctx.instance_id, "n": 0, "value": millis})


@reg.orchestration
async def approval(ctx, value: int) -> int:
    first = await ctx.activity(step, {"id": ctx.instance_id, "n": 0, "value": value})
    bonus = await ctx.event("approve")
    return first + int(bonus)


def expected_chain(value: int) -> int:
    for _ in range(5):
        value = value * 3 + 1
    return value


def plan() -> list[tuple[str, str, int, int, list[str]]]:
    """(instance id, orchestration, input, expected output, activity calls) for 200 instances."""
    out = []
    for i in range(130):
        calls = [f"chain-{i}/step{n}" for n in range(5)]
        out.append((f"chain-{i}", "chain", i, expected_chain(i), calls))
    for i in range(30):
        calls = [f"fan-{i}/item{k}" for k in range(20)]
        out.append((f"fan-{i}", "fan_out", 20, sum(k * k for k in range(20)), calls))
    for i in range(30):
        millis = 50 + 10 * i
        out.append((f"sleep-{i}", "sleeper", millis, millis * 3 + 1, [f"sleep-{i}/step0"]))
    for i in range(10):
        out.append((f"wait-{i}", "approval", i, i * 3 + 1 + 100, [f"wait-{i}/step0"]))
    return out


def progress(db: str, log: Path) -> int:
    """History rows written plus activity executions recorded: grows with every bit of work."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT count(*) FROM history").fetchone()[0]
    finally:
        conn.close()
    executions = log.read_text().count("\n") if log.exists() else 0
    return int(rows) + executions


def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    log = tmp_path / "executions.log"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, LOG_ENV: str(log), "PYTHONPATH": str(root)}
    command = [
        sys.executable,
        "-m",
        "orchestrate",
        "worker",
        "tests.orchestrate.test_crash_safety:reg",
        "--db",
        db,
        "--threads",
        "2",
        "--batch-size",
        "16",
        "--lease",
        "0.3",
        "--activity-lease",
        "0.3",
    ]
    store = SqliteStore(db)
    client = Client(store)
    instances = plan()
    for key, name, value, _, _ in instances:
        client.start(name, value, instance_id=key)

    # Total work is ~3,600 history rows plus ~1,000 executions; kill six times in the first 80%.
    rng = random.Random(20240601)
    kill_points = sorted(rng.sample(range(200, 3600), 6))

    errors = tmp_path / "worker.err"

    def start_worker() -> subprocess.Popen[bytes]:
        with errors.open("ab") as sink:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=sink
            )

    kills = 0
    for index, point in enumerate(kill_points):
        proc = start_worker()
        if index == 2:
            for key, name, *_ in instances:  # the approvals arrive while workers keep dying
                if name == "approval":
                    client.raise_event(key, "approve", 100)
        deadline = 600  # waits of at most 50 ms each: a bounded 30 s
        while progress(db, log) < point and deadline and proc.poll() is None:
            store.wait_for_change(0.05)
            deadline -= 1
        assert proc.poll() is None, (
            f"the worker exited early: {proc.stderr.read() if proc.stderr else ''}"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
    assert kills >= 5

    before = len(errors.read_text()) if errors.exists() else 0
    proc = start_worker()
    try:
        for key, *_ in instances:
            client.wait(key, timeout=60)
        # The killed workers may have finished everything: wait until this one is up (its
        # SIGTERM handler installed) before stopping it, or it dies of the signal mid-import.
        wait_until(
            lambda: "SIGTERM stops it" in errors.read_text()[before:],
            timeout=30,
            what="the last worker to say it runs",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, errors.read_text()

    # Every instance completed with the right output, exactly once.
    for key, _name, _value, output, _ in instances:
        state = client.state(key)
        assert (state.status, state.output) == (Status.COMPLETED, output), (key, state.error)
        kinds = [e.kind for e in client.history(key)]
        assert kinds.count("OrchestrationCompleted") == 1, key
        assert kinds.count("OrchestrationStarted") == 1, key

    # History sequence numbers are gap-free 0..n-1 and match history_len.
    conn = sqlite3.connect(db)
    seqs: dict[str, list[int]] = defaultdict(list)
    for key, seq in conn.execute("SELECT instance_id, seq FROM history ORDER BY instance_id, seq"):
        seqs[key].append(seq)
    lengths = dict(conn.execute("SELECT instance_id, history_len FROM instances"))
    conn.close()
    for key, *_ in instances:
        assert seqs[key] == list(range(lengths[key])), key

    # Every activity call ran at least once; re-executions of a call saw the same key.
    keys_by_call: dict[str, set[str]] = defaultdict(set)
    runs_by_call: dict[str, int] = defaultdict(int)
    for line in log.read_text().splitlines():
        record = json.loads(line)
        keys_by_call[record["call"]].add(record["key"])
        runs_by_call[record["call"]] += 1
    expected_calls = {call for *_, calls in instances for call in calls}
    assert expected_calls <= set(keys_by_call), sorted(expected_calls - set(keys_by_call))[:5]
    assert set(keys_by_call) == expected_calls
    assert all(len(keys) == 1 for keys in keys_by_call.values()), {
        call: keys for call, keys in keys_by_call.items() if len(keys) > 1
    }
    # Each result was recorded once in the history however often the activity ran.
    for key, *_ in instances:
        done = [e.task_id for e in client.history(key) if e.kind == "ActivityCompleted"]
        assert len(done) == len(set(done)), key
    store.close()
    reruns = sum(1 for count in runs_by_call.values() if count > 1)
    print(f"{kills} kills; {reruns} of {len(expected_calls)} activity calls ran more than once")
