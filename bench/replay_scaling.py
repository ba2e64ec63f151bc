"""Replay scaling: N sequential activities on the in-memory store, warm (cached) and cold.

Reports, for N = 100, 1,000, 10,000: the end-to-end time, the per-step cost, and one cold full
replay of the final history (a fresh Execution rebuilt from the stored events). Targets:
cost(10,000) / cost(1,000) <= 12 (turns cost O(new events) thanks to the execution cache) and a
cold replay of the 10,000-step history under 0.5 s.

Run: .venv/bin/python bench/replay_scaling.py [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime

from orchestrate import Client, MemoryStore, OrchestrationContext, Registry, Worker
from orchestrate.replay import Execution

reg = Registry()


@reg.activity
def step(n: int) -> int:
    return n + 1


@reg.orchestration
async def sequential(ctx: OrchestrationContext, n: int) -> int:
    value = 0
    for _ in range(n):
        value = await ctx.activity(step, value)
    return value


class FixedClock:
    def now(self) -> datetime:
        return datetime(2024, 1, 1, tzinfo=UTC)


def run(n: int) -> tuple[float, float, int]:
    store = MemoryStore()
    clock = FixedClock()
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock)
    gc.collect()
    began = time.perf_counter()
    instance_id = client.start(sequential, n)
    while worker.poll_once():
        pass
    total = time.perf_counter() - began
    state = client.state(instance_id)
    assert state.output == n, state
    history = client.history(instance_id)
    gc.collect()
    began = time.perf_counter()
    exe = Execution(reg, reg.get_orchestration(sequential), instance_id)
    exe.replay(history)
    cold = time.perf_counter() - began
    assert exe.nondeterminism is None and exe.result is not None
    return total, cold, len(history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; the best is kept")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, tuple[float, float, int]] = {}
    # Rounds interleave the sizes, so every size samples the same moods of this shared VM, and
    # the best of the rounds is kept: the minimum is the least disturbed run.
    samples: dict[int, list[tuple[float, float, int]]] = {n: [] for n in sizes}
    for _ in range(args.repeat):
        for n in sizes:
            samples[n].append(run(n))
    print(f"{'N':>7} {'events':>7} {'total s':>9} {'per step us':>12} {'cold replay s':>14}")
    for n in sizes:
        runs = samples[n]
        total, cold, events = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]
        results[n] = (total, cold, events)
        print(f"{n:>7} {events:>7} {total:>9.3f} {total / n * 1e6:>12.1f} {cold:>14.3f}")
    if 1000 in results and 10000 in results:
        ratio = results[10000][0] / results[1000][0]
        print(f"cost(10,000)/cost(1,000) = {ratio:.2f}  (target <= 12)")
        print(f"cold replay of 10,000 steps = {results[10000][1]:.3f} s  (target < 0.5 s)")
        ok = ratio <= 12 and results[10000][1] < 0.5
        print("targets met" if ok else "TARGETS MISSED")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
