"""How fast the fuzzer explores, finds bugs, and proves small orchestrations safe.

(a) Random mode on a 6-activity saga (each step ok or failing, compensations on failure) with
    crashes and duplicate deliveries on: examples/s and distinct schedules/s, beside the
    baseline of the same saga run start-to-finish in a plain `TestEnv` (runs/s) in the same
    process, so the ratio shows what exploring and checking every step costs.
    Target: >= 300 examples/s.
(b) Time to a shrunk failure for every buggy target in ``tests/testkit/fuzz_targets`` with
    default settings (hash-seed replays included), over several seeds. Target: < 10 s each.
(c) Exhaustive mode on a 5-way fan-out with two outcomes per activity, raced against a timer:
    schedules explored and seconds. Target: complete in < 30 s.

Run with ``make bench`` or ``.venv/bin/python bench/fuzz_speed.py [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orchestrate import ActivityFailed, OrchestrationContext, Registry, Saga  # noqa: E402
from testkit import TestEnv, fail, ok  # noqa: E402
from testkit.fuzz import FuzzFailure, fuzz  # noqa: E402

# The wall clock is frozen while examples run; keep the real one out of the freeze's reach.
CLOCK = (time.perf_counter,)

reg = Registry()


@reg.activity
def step(job: dict[str, int]) -> str:
    return f"done-{job['n']}"


@reg.activity
def undo(job: dict[str, int]) -> None:
    return None


@reg.orchestration
async def saga6(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    saga = Saga(ctx)
    done = []
    try:
        for n in range(6):
            done.append(await ctx.activity(step, {"n": n}))
            saga.add(undo, {"n": n})
    except ActivityFailed:
        await saga.compensate()
        return {"status": "compensated", "done": done}
    return {"status": "ok", "done": done}


@reg.activity
def check(i: int) -> int:
    return i


@reg.orchestration
async def fan5(ctx: OrchestrationContext, _: None = None) -> str:
    calls = ctx.all([ctx.activity(check, i) for i in range(5)])
    timer = ctx.timer(timedelta(minutes=1))
    if await ctx.any([calls, timer]) is timer:
        return "timeout"
    try:
        return f"ok {sum(await calls)}"
    except ActivityFailed:
        return "failed"


def saga_speed(examples: int, rounds: int) -> None:
    outcomes = {step: [ok("a"), ok("b"), fail("declined", retryable=False)]}
    best_rate = best_schedules = 0.0
    for _ in range(rounds):
        started = CLOCK[0]()
        report = fuzz(reg, saga6, input={"id": 1}, outcomes=outcomes, max_examples=examples,
                      seed=1, hash_seeds=0)
        took = CLOCK[0]() - started
        best_rate = max(best_rate, report.examples / took)
        best_schedules = max(best_schedules, report.schedules / took)
    env_rate = 0.0
    for _ in range(rounds):
        started = CLOCK[0]()
        for n in range(examples):
            env = TestEnv(reg)
            env.script(step, ok("a"))
            env.run(saga6, {"id": n})
        env_rate = max(env_rate, examples / (CLOCK[0]() - started))
    print(f"(a) 6-activity saga, crashes+duplicates on, {examples} examples (best of {rounds}):")
    print(f"    fuzzer  {best_rate:8.0f} examples/s  {best_schedules:8.0f} schedules/s  "
          f"({report.crashes} crashes, {report.duplicates} duplicates in the last run)")
    print(f"    TestEnv {env_rate:8.0f} runs/s (baseline: one fault-free run, same saga)")
    print(f"    ratio fuzzer/baseline {best_rate / env_rate:.2f}; target >= 300 examples/s: "
          f"{'met' if best_rate >= 300 else 'MISSED'}")


def targets(seeds: list[int]) -> None:
    from tests.testkit.fuzz_targets import MODULES

    print(f"(b) time to a shrunk failure, default settings, seeds {seeds}:")
    worst_all = 0.0
    for name in MODULES:
        module = importlib.import_module(f"tests.testkit.fuzz_targets.{name}")
        times, steps = [], []
        for seed in seeds:
            getattr(module, "reset", lambda: None)()
            started = CLOCK[0]()
            try:
                fuzz(module.reg, module.buggy, seed=seed, **module.FUZZ["buggy"])
            except FuzzFailure as failure:
                steps.append(len(failure.schedule.steps))
            else:
                steps.append(-1)
            times.append(CLOCK[0]() - started)
        worst_all = max(worst_all, max(times))
        missed = steps.count(-1)
        print(f"    {name:28s} worst {max(times):5.2f} s  mean {sum(times) / len(times):5.2f} s"
              f"  shrunk to {min(s for s in steps if s >= 0) if missed < len(steps) else '-'}"
              f"..{max(steps)} steps" + (f"  NOT FOUND with {missed} seed(s)" if missed else ""))
    print(f"    worst {worst_all:.2f} s; target < 10 s: {'met' if worst_all < 10 else 'MISSED'}")


def exhaustive() -> None:
    started = CLOCK[0]()
    report = fuzz(reg, fan5, outcomes={check: [ok(1), fail("no", retryable=False)]},
                  exhaustive=True, hash_seeds=0)
    took = CLOCK[0]() - started
    print("(c) exhaustive: 5-way fan-out, ok/fail each, raced against a timer:")
    print(f"    {report.verdict}")
    print(f"    {took:.2f} s ({report.schedules / took:.0f} schedules/s); target < 30 s: "
          f"{'met' if took < 30 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and seeds")
    args = parser.parse_args()
    saga_speed(300, 1 if args.quick else 3)
    targets([1, 2] if args.quick else [1, 2, 3, 4, 5])
    exhaustive()


if __name__ == "__main__":
    main()
