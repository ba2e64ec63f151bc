"""PostgreSQL scaling: 2,000 three-activity chains enqueued first, then drained by 1, 2 and 4
worker processes on one local PostgreSQL server, next to DBOS 3.x on the same server.

For each worker count: a fresh database, the instances started from a client (not timed), then
`N` worker processes (each `Worker(reg, "postgresql://...")`, the CLI's defaults: 2 threads) are
told to go at once; timed from "go" to the last completion (read from the database). Figures:
instances/s and activity steps/s (3 per instance). DBOS 3.x (the `bench` extra): the same
workflow (three steps) enqueued on a DBOS queue with `DBOSClient` first, then drained by DBOS
worker processes on a fresh database of the same server (DBOS runs fewer workflows by default,
`--dbos-instances`, because it is much slower; rates are per second either way).

The server is a throwaway cluster (`testkit.postgres.PostgresCluster`, the one the tests use)
with its default durability (fsync on; `--no-fsync` for a RAM-like disk). It shares this
machine's cores with the workers, as a database on the same host would.

Targets (2-core machine): >= 1.6x instances/s from 1 to 2 worker processes, >= 5x DBOS.
Run: ``python bench/postgres_scaling.py [--instances 2000] [--workers 1 2 4] [--no-dbos]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the checkout's packages
    sys.path.insert(0, str(ROOT))

from orchestrate import Client, OrchestrationContext, Registry, Worker  # noqa: E402

reg = Registry()


@reg.activity
def step(x: int) -> int:
    return x + 1


@reg.orchestration
async def chain(ctx: OrchestrationContext, x: int) -> int:
    for _ in range(3):
        x = await ctx.activity(step, x)
    return x


# --- worker processes (this script run with --orchestrate-worker / --dbos-worker) -------------


def orchestrate_worker(url: str, threads: int) -> None:
    worker = Worker(reg, url, threads=threads)
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    worker.start()
    sys.stdin.readline()  # EOF or "stop"
    worker.stop(timeout=5)


def _dbos(url: str) -> object:
    from dbos import DBOS

    logging.getLogger("dbos").setLevel(logging.WARNING)
    DBOS(
        config={
            "name": "pgbench",
            "system_database_url": url,
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )

    @DBOS.step()
    def dbos_step(x: int) -> int:
        return x + 1

    @DBOS.workflow(name="dbos_chain")
    def dbos_chain(x: int) -> int:
        return dbos_step(dbos_step(dbos_step(x)))

    return DBOS


def _queue(dbos: object) -> None:
    """The queue the workflows wait on: polled often and taken many at once, as our workers
    take work (DBOS polls once a second by default)."""
    dbos.register_queue(  # type: ignore[attr-defined]
        "bench", worker_concurrency=16, polling_interval_sec=0.05, on_conflict="always_update"
    )


def dbos_worker(url: str) -> None:
    dbos = _dbos(url)
    print("ready", flush=True)
    sys.stdin.readline()
    dbos.launch()  # type: ignore[attr-defined]
    _queue(dbos)
    sys.stdin.readline()
    dbos.destroy()  # type: ignore[attr-defined]


def dbos_setup(url: str) -> None:
    """Create DBOS's schema (launch once), so a client can enqueue before workers start."""
    dbos = _dbos(url)
    dbos.launch()  # type: ignore[attr-defined]
    _queue(dbos)
    dbos.destroy()  # type: ignore[attr-defined]


# --- the driver --------------------------------------------------------------------------------


def _spawn(kind: str, url: str, count: int, threads: int) -> list[subprocess.Popen[str]]:
    command = [sys.executable, __file__, kind, url]
    if kind == "--orchestrate-worker":
        command += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", kind
    return procs


def _drain(procs: list[subprocess.Popen[str]], url: str, sql: str, total: int) -> float:
    """Tell `procs` to go; seconds until `sql` (a count) reaches `total`."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        while True:
            done = conn.execute(sql).fetchone()
            if done is not None and done[0] >= total:
                elapsed = time.perf_counter() - started
                break
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("a worker process died during the run")
            time.sleep(0.02)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
    for proc in procs:
        proc.wait(timeout=60)
    return elapsed


def run_orchestrate(cluster, name: str, instances: int, workers: int, threads: int) -> float:
    """Instances per second drained by `workers` processes."""
    import psycopg

    from orchestrate.stores.postgres import PostgresStore

    url = cluster.create_database(name)
    store = PostgresStore(url)
    client = Client(store)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.start(chain, i, instance_id=f"c{i}"), range(instances)))
    store.close()
    procs = _spawn("--orchestrate-worker", url, workers, threads)
    sql = "SELECT count(*) FROM instances WHERE status = 'completed'"
    elapsed = _drain(procs, url, sql, instances)
    with psycopg.connect(url) as conn:
        outputs = dict(conn.execute("SELECT instance_id, output FROM instances").fetchall())
    assert all(outputs[f"c{i}"] == str(i + 3) for i in range(instances)), "wrong outputs"
    cluster.drop_database(name)
    return instances / elapsed


def run_dbos(cluster, name: str, instances: int, workers: int) -> float | str:
    """DBOS workflows per second drained by `workers` processes, or why it could not run."""
    try:
        from dbos import DBOSClient
    except ImportError as exc:
        return f"not installed ({exc}); `make bench` installs the bench extra"
    url = cluster.create_database(name)
    setup = subprocess.run(
        [sys.executable, __file__, "--dbos-setup", url],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    if setup.returncode != 0:
        return f"setup failed: {setup.stderr.strip().splitlines()[-1:]}"
    client = DBOSClient(system_database_url=url)
    options = {"workflow_name": "dbos_chain", "queue_name": "bench"}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.enqueue(options, i), range(instances)))  # type: ignore[arg-type]
    client.destroy()
    procs = _spawn("--dbos-worker", url, workers, 0)
    sql = "SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS'"
    elapsed = _drain(procs, url, sql, instances)
    cluster.drop_database(name)
    return instances / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument("--dbos-instances", type=int, default=500)
    parser.add_argument("--dbos-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument("--no-fsync", action="store_true", help="run the server with fsync off")
    args = parser.parse_args(argv)

    from testkit.postgres import PostgresCluster, PostgresUnavailable

    try:
        cluster = PostgresCluster.start(durable=not args.no_fsync)
    except PostgresUnavailable as exc:
        print(f"postgres_scaling: skipped: {exc}")
        return 1
    rates: dict[int, float] = {}
    try:
        print(
            f"PostgreSQL {'(fsync off)' if args.no_fsync else '(fsync on)'}, {os.cpu_count()} "
            f"cores shared with the workers; {args.instances} three-activity chains enqueued, "
            f"then drained ({args.threads} threads per worker process)"
        )
        for workers in args.workers:
            rate = run_orchestrate(cluster, f"o{workers}", args.instances, workers, args.threads)
            rates[workers] = rate
            print(
                f"orchestrate, {workers} worker process{'es' if workers > 1 else '  '}: "
                f"{rate:8,.1f} instances/s  {3 * rate:9,.1f} activity steps/s"
            )
        if 1 in rates and 2 in rates:
            ratio = rates[2] / rates[1]
            print(f"1 -> 2 processes: {ratio:.2f}x (target 1.6x: {'met' if ratio >= 1.6 else 'MISSED'})")
        if not args.no_dbos:
            for workers in args.dbos_workers:
                dbos = run_dbos(cluster, f"d{workers}", args.dbos_instances, workers)
                if isinstance(dbos, str):
                    print(f"DBOS 3.x: could not run: {dbos}")
                    continue
                print(
                    f"DBOS 3.x,    {workers} worker process{'es' if workers > 1 else '  '}: "
                    f"{dbos:8,.1f} workflows/s  {3 * dbos:9,.1f} steps/s  "
                    f"({args.dbos_instances} workflows)"
                )
                if workers in rates:
                    ratio = rates[workers] / dbos
                    print(
                        f"orchestrate / DBOS at {workers} process{'es' if workers > 1 else ''}: "
                        f"{ratio:.1f}x (target 5x: {'met' if ratio >= 5 else 'MISSED'})"
                    )
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--orchestrate-worker":
        threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
        orchestrate_worker(sys.argv[2], threads)
    elif len(sys.argv) > 2 and sys.argv[1] == "--dbos-worker":
        dbos_worker(sys.argv[2])
    elif len(sys.argv) > 2 and sys.argv[1] == "--dbos-setup":
        dbos_setup(sys.argv[2])
    else:
        raise SystemExit(main())
