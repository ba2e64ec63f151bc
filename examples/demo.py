"""`make demo`: the whole product, on a fresh clone, in under a minute.

1. **Durable run.** The complete e-commerce order (`examples/patterns/ecommerce_order.py`) runs
   on the embedded SQLite store (``./orchestrate.db``) with a real worker; a client reads its
   status while it runs, and ``orchestrate show`` prints its timeline from the database.
2. **orch-lint** on `examples/broken/`: the statically visible bugs, helpers with call chains.
3. **orch-fuzz** on a broken twin whose bug no linter can see: the shrunk counterexample and
   the commands that reproduce it.
4. **orch-fuzz --exhaustive** verifies a small example in every schedule.
5. **The example tests** (``pytest -n 2 examples``): every pattern's tests, fuzz tests and
   broken twins.

``python -m examples.demo --quick`` skips step 5.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from orchestrate import InstanceState, Runtime

from .patterns.ecommerce_order import ORDER, complete_order, reg

ROOT = Path(__file__).resolve().parent.parent
DB = "orchestrate.db"

# (title, command shown to the reader, the module run with this interpreter, its arguments)
STEPS: list[tuple[str, str, str, list[str]]] = [
    (
        "orch-lint finds the statically visible bugs in examples/broken/",
        "orch-lint examples/broken/",
        "linter",
        ["--no-cache", "examples/broken/"],
    ),
    (
        "orch-fuzz finds a compensation skipped under one interleaving (no linter can see it)",
        "orch-fuzz examples/broken/leaky_reservations.py:reserve_order --seed 1 --examples 50"
        " --hash-seeds 0",
        "testkit.fuzz",
        [
            "examples/broken/leaky_reservations.py:reserve_order",
            "--seed",
            "1",
            "--examples",
            "50",
            "--hash-seeds",
            "0",
        ],
    ),
    (
        "orch-fuzz --exhaustive verifies the fixed saga in every schedule",
        "orch-fuzz examples/patterns/saga.py:order_saga --exhaustive --hash-seeds 0",
        "testkit.fuzz",
        ["examples/patterns/saga.py:order_saga", "--exhaustive", "--hash-seeds", "0"],
    ),
]
TESTS = ("the example tests", "pytest -q -n 2 examples", "pytest", ["-q", "-n", "2", "examples"])


def banner(number: int, title: str) -> None:
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print(f"\n{bold}== {number}. {title}{plain}", flush=True)


def run_order(db: str = DB) -> tuple[InstanceState, list[str]]:
    """Run one e-commerce order durably on the SQLite file `db`; returns its final state and
    the phases a client saw while it ran."""
    instance_id = f"order-{uuid.uuid4().hex[:8]}"
    phases: list[str] = []
    with Runtime(reg, store=f"sqlite:///{db}") as rt:
        rt.start(complete_order, ORDER, instance_id=instance_id)
        while not (state := rt.state(instance_id)).finished:
            phase = (state.custom_status or {}).get("phase")
            if phase and (not phases or phases[-1] != phase):
                phases.append(phase)
            rt.store.wait_for_change(0.05)
        final = rt.wait(instance_id, timeout=30)
    last = (final.custom_status or {}).get("phase")
    if last and (not phases or phases[-1] != last):
        phases.append(last)
    return final, phases


def show_command(instance_id: str, db: str = DB) -> list[str]:
    """The ``orchestrate show`` command line that prints an instance's timeline."""
    return [sys.executable, "-m", "orchestrate", "--db", db, "show", instance_id]


def run_step(shown: str, module: str, args: list[str]) -> int:
    print(f"$ {shown}", flush=True)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()

    banner(1, "a durable e-commerce order on SQLite (./orchestrate.db)")
    final, phases = run_order()
    print(f"status seen by a client while it ran: {' -> '.join(phases)}")
    print(f"final: {final.status.value}; paid with {final.output['payment']['provider']}")
    print(f"$ orchestrate show {final.instance_id}", flush=True)
    subprocess.run(show_command(final.instance_id), cwd=ROOT, check=True)

    failed = []
    steps = [*STEPS, *([] if quick else [TESTS])]
    for number, (title, shown, module, args) in enumerate(steps, 2):
        banner(number, title)
        code = run_step(shown, module, args)
        expected = 1 if module == "linter" or "broken" in shown else 0  # findings exit 1
        if code != expected:
            failed.append(f"{shown} exited {code}, expected {expected}")

    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")
    print("the code: examples/patterns/ (index: examples/README.md), examples/broken/")
    for problem in failed:
        print(f"demo step failed: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
