"""SQLite throughput: 1,000 three-activity chains end to end, next to DBOS and the disk's limit.

Three figures from one run, on one disk (a fresh temporary directory):

1. the raw rate of fsync'd single-row SQLite commits (WAL, synchronous=FULL): the physical limit
   of anything that makes each step durable with its own commit;
2. orchestrate: `Runtime` on a fresh SQLite file with synchronous=FULL, 1,000 instances of a
   3-activity chain started from 16 client threads (as a web server's handler threads would)
   while the worker threads run them; instances/s and activity steps/s from the first start to
   the last completion. Also the worker alone draining 1,000 already-started instances;
3. DBOS 3.x (the `bench` extra) on its SQLite backend running the same 3-step workflow, called
   from 16 threads, both as DBOS configures SQLite by default (rollback journal) and with the file
   switched to WAL beforehand (what orchestrate uses). DBOS runs fewer workflows by default
   (`--dbos-instances`) because it is much slower; rates are per second either way;
4. one by one, as a new user first tries it: `Runtime(reg, store=<fresh file>)` with its defaults
   (synchronous=FULL), `rt.start(...)` called 1,000 times from one thread, then `rt.wait(...)` on
   each; next to DBOS doing the same (`DBOS.start_workflow` one by one, then `get_result` on
   each handle).

Targets: >= 1,000 instances/s and >= 10x DBOS's better figure, for the concurrent starts (2./3.)
and for the one-by-one starts (4.). Run: `make bench` or
``python bench/sqlite_throughput.py [--instances N] [--no-dbos]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrate import OrchestrationContext, Registry, Runtime, Status


def fsync_commit_rate(directory: Path, commits: int = 2000) -> float:
    """Single-row INSERT transactions per second with WAL and synchronous=FULL."""
    conn = sqlite3.connect(directory / "fsync.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    started = time.perf_counter()
    for i in range(commits):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return commits / elapsed


def cpu_calibration() -> float:
    """Seconds for a fixed pure-Python loop: the run is CPU-bound, so this says how fast the
    machine was during the run (about 0.7 s on an idle modern core; 1.6-2.6 s seen here)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


reg = Registry()


@reg.activity
def step(x: int) -> int:
    return x + 1


@reg.orchestration
async def chain(ctx: OrchestrationContext, x: int) -> int:
    x = await ctx.activity(step, x)
    x = await ctx.activity(step, x)
    return await ctx.activity(step, x)


def run_orchestrate(
    directory: Path, instances: int, threads: int, batch_size: int, starters: int
) -> tuple[float, float]:
    """Returns (seconds end to end, seconds spent starting instances)."""
    url = f"sqlite:///{directory / 'orchestrate.db'}"
    with Runtime(reg, store=url, threads=threads, batch_size=batch_size) as rt:
        started = time.perf_counter()
        with ThreadPoolExecutor(starters) as pool:  # like a web server's handler threads
            keys = list(
                pool.map(lambda i: rt.start(chain, i, instance_id=f"c{i}"), range(instances))
            )
        submitted = time.perf_counter()
        # Watch for the last completion with a cheap count every 5 ms: a `rt.wait` per instance
        # would wake on every commit and take the GIL from the workers it is measuring.
        watch = sqlite3.connect(directory / "orchestrate.db")
        query = "SELECT count(*) FROM instances WHERE status IN ('completed', 'failed')"
        deadline = started + 300
        while watch.execute(query).fetchone()[0] < instances and time.perf_counter() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        watch.close()
        states = [rt.state(key) for key in keys]
    bad = [s for s, i in zip(states, range(instances), strict=True) if s.output != i + 3]
    if bad or any(s.status != Status.COMPLETED for s in states):
        raise SystemExit(f"orchestrate produced wrong results, e.g. {bad[:1]}")
    return elapsed, submitted - started


def run_one_by_one(directory: Path, instances: int) -> tuple[float, float]:
    """Seconds for `instances` chains started one by one from this thread and then waited on,
    on a default `Runtime`; (end to end, of which starting)."""
    with Runtime(reg, store=f"sqlite:///{directory / 'one-by-one.db'}") as rt:
        started = time.perf_counter()
        keys = [rt.start(chain, i, instance_id=f"s{i}") for i in range(instances)]
        submitted = time.perf_counter()
        states = [rt.wait(key, timeout=300) for key in keys]
        elapsed = time.perf_counter() - started
    if any(s.output != i + 3 for i, s in enumerate(states)):
        raise SystemExit("orchestrate produced wrong results (one by one)")
    return elapsed, submitted - started


def run_backlog(directory: Path, instances: int, threads: int, batch_size: int) -> float:
    """Seconds for the worker alone to drain `instances` already-started chains."""
    url = f"sqlite:///{directory / 'backlog.db'}"
    rt = Runtime(reg, store=url, threads=threads, batch_size=batch_size)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: rt.start(chain, i, instance_id=f"b{i}"), range(instances)))
    watch = sqlite3.connect(directory / "backlog.db")
    query = "SELECT count(*) FROM instances WHERE status IN ('completed', 'failed')"
    started = time.perf_counter()
    rt.start_worker()
    while watch.execute(query).fetchone()[0] < instances and time.perf_counter() < started + 300:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    watch.close()
    rt.close()
    return elapsed


def run_dbos(directory: Path, workflows: int, wal: bool, one_by_one: bool = False) -> float | str:
    """DBOS workflows per second, or the reason it could not run; `one_by_one`: started one by
    one from this thread, then each waited on (else called from 16 threads)."""
    try:
        from dbos import DBOS
    except ImportError as exc:
        return f"not installed ({exc}); `make bench` installs the bench extra"
    path = directory / f"dbos-{'wal' if wal else 'default'}{'-1by1' if one_by_one else ''}.sqlite"
    if wal:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
    logging.getLogger("dbos").setLevel(logging.WARNING)
    DBOS(
        config={
            "name": "bench",
            "system_database_url": f"sqlite:///{path}",
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )

    @DBOS.step()
    def dbos_step(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def dbos_chain(x: int) -> int:
        return dbos_step(dbos_step(dbos_step(x)))

    try:
        DBOS.launch()
        dbos_chain(-1)  # warm up: first-call setup is not throughput
        started = time.perf_counter()
        if one_by_one:
            handles = [DBOS.start_workflow(dbos_chain, i) for i in range(workflows)]
            results = [handle.get_result() for handle in handles]
        else:
            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(dbos_chain, range(workflows)))
        elapsed = time.perf_counter() - started
    finally:
        DBOS.destroy(destroy_registry=True)
    if results != [i + 3 for i in range(workflows)]:
        return "DBOS produced wrong results"
    return workflows / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="orchestrate worker threads")
    parser.add_argument("--batch-size", type=int, default=128, help="turns per transaction")
    parser.add_argument(
        "--starters", type=int, default=16, help="client threads starting instances"
    )
    parser.add_argument("--dbos-instances", type=int, default=200)
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument(
        "--only-one-by-one", action="store_true", help="run only the one-by-one workload (4.)"
    )
    parser.add_argument("--dir", help="directory for the database files (default: a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        print(
            f"disk: {os.path.realpath(directory)}; python {sys.version.split()[0]}, "
            f"sqlite {sqlite3.sqlite_version}"
        )
        fsync = fsync_commit_rate(directory)
        print(f"raw fsync'd single-row commits (WAL, FULL):  {fsync:9,.0f} commits/s")
        print(
            f"CPU calibration (10M-step pure-Python loop):  {cpu_calibration():9.2f} s  "
            "(the absolute rates below scale with it; this VM's speed varies)"
        )

        ok = True
        verdicts: list[str] = []
        if not args.only_one_by_one:
            elapsed, starting = run_orchestrate(
                directory, args.instances, args.threads, args.batch_size, args.starters
            )
            ours = args.instances / elapsed
            print(
                f"orchestrate SqliteStore (synchronous=FULL): {ours:9,.0f} instances/s  "
                f"{3 * ours:9,.0f} activity steps/s  ({args.instances} instances in {elapsed:.2f} s, "
                f"of which {starting:.2f} s starting them; {args.threads} threads, "
                f"batch {args.batch_size})"
            )
            drain = args.instances / run_backlog(
                directory, args.instances, args.threads, args.batch_size
            )
            print(
                f"  the worker alone, draining {args.instances} started instances: "
                f"{drain:9,.0f} instances/s {3 * drain:9,.0f} activity steps/s"
            )
            best: float | None = None
            if not args.no_dbos:
                for wal in (False, True):
                    label = "WAL" if wal else "default journal"
                    rate = run_dbos(directory, args.dbos_instances, wal)
                    if isinstance(rate, str):
                        print(f"DBOS ({label}): could not run: {rate}")
                        break
                    best = max(best or 0.0, rate)
                    print(
                        f"DBOS 3.x SQLite ({label + '):':<17} {rate:9,.1f} workflows/s  "
                        f"{3 * rate:9,.1f} steps/s  ({args.dbos_instances} workflows, 16 threads)"
                    )
            ok = ours >= 1000
            verdicts.append(
                f"concurrent starts, instances/s target 1,000: {'met' if ok else 'MISSED'}"
            )
            if best:
                ratio = ours / best
                ok = ok and ratio >= 10
                verdicts.append(
                    f"{ratio:,.1f}x DBOS's best (target 10x: {'met' if ratio >= 10 else 'MISSED'})"
                )
        elapsed, starting = run_one_by_one(directory, args.instances)
        single = args.instances / elapsed
        print(
            f"orchestrate one by one (default Runtime, FULL): {single:9,.0f} instances/s  "
            f"({args.instances} rt.start calls from one thread in {starting:.2f} s, then "
            f"rt.wait on each; {elapsed:.2f} s in all)"
        )
        ok = ok and single >= 1000
        verdicts.append(
            f"one by one, instances/s target 1,000: {'met' if single >= 1000 else 'MISSED'}"
        )
        if not args.no_dbos:
            dbos = [run_dbos(directory, args.dbos_instances, wal, True) for wal in (False, True)]
            rates = [r for r in dbos if not isinstance(r, str)]
            for wal, rate in zip((False, True), dbos, strict=True):
                label = "WAL" if wal else "default journal"
                shown = rate if isinstance(rate, str) else f"{rate:9,.1f} workflows/s"
                print(f"DBOS 3.x SQLite one by one ({label + '):':<17} {shown}")
            if rates:
                ratio = single / max(rates)
                ok = ok and ratio >= 10
                verdicts.append(
                    f"{ratio:,.1f}x DBOS's best one by one "
                    f"(target 10x: {'met' if ratio >= 10 else 'MISSED'})"
                )
        print("; ".join(verdicts))
    return 0 if ok else 1  # `make bench` goes on to the next bench, then reports the miss


if __name__ == "__main__":
    raise SystemExit(main())
