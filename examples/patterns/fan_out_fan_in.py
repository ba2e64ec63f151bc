"""Fan-out/fan-in: schedule many activities at once, then wait for them together.

Seeds: 000 ("Fan-Out/Fan-In" best-effort counting, "Dynamic Fan-Out"), 001 (Pattern 1
"Fan-Out Validation", fail-fast; Pattern 2 "Parallel Data Enrichment", best-effort with partial
data), 002 (fan-out over records).

Four shapes:

* `batch_processor` - best effort: ``ctx.all(tasks, return_exceptions=True)`` and count failures.
* `dynamic_fan_out` - the width comes from an activity's result at run time.
* `validate_user` - fail fast: ``ctx.all(tasks)`` raises the first failure in completion order.
* `enrich_product` - best effort with a per-source timeout (``timeout=`` on each call), keeping
  whatever arrived in time.

Replay-safe because tasks are scheduled in creation order (a list comprehension over the input,
which is itself recorded), and ``ctx.all`` resolves from completions in the order the history
recorded them, so the first failure seen on replay is the one seen live.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrate import ActivityFailed, OrchestrationContext, Registry, Status, TaskFailed
from orchestrate import history as h
from testkit import Run, fail, ok

reg = Registry()


# --- activities ----------------------------------------------------------------------------------


@reg.activity
def process_item(item: str) -> str:
    if item.startswith("bad"):
        raise ValueError(f"cannot process {item!r}")
    return item.upper()


@reg.activity
def list_pending_tasks(queue: str) -> list[str]:
    size = int(queue.rsplit("-", 1)[-1])  # "nightly-5" -> five tasks
    return [f"task-{i}" for i in range(size)]


@reg.activity
def process_task(task: str) -> int:
    return int(task.rsplit("-", 1)[-1]) ** 2


@reg.activity
def check_email_verified(user_id: str) -> bool:
    return not user_id.endswith("-unverified")


@reg.activity
def check_kyc_completed(user_id: str) -> bool:
    return True


@reg.activity
def check_not_blacklisted(user_id: str) -> bool:
    return user_id != "mallory"


@reg.activity
def fetch_details(product_id: str) -> dict[str, Any]:
    return {"name": f"Product {product_id}", "category": "tools"}


@reg.activity
def fetch_pricing(product_id: str) -> dict[str, Any]:
    return {"price": 19.99, "currency": "EUR"}


@reg.activity
def fetch_inventory(product_id: str) -> dict[str, Any]:
    return {"in_stock": 12}


@reg.activity
def fetch_reviews(product_id: str) -> dict[str, Any]:
    return {"rating": 4.5, "count": 87}


ENRICHMENT_SOURCES = {
    "details": fetch_details,
    "pricing": fetch_pricing,
    "inventory": fetch_inventory,
    "reviews": fetch_reviews,
}
SOURCE_TIMEOUT = timedelta(seconds=5)


# --- orchestrations ------------------------------------------------------------------------------


@reg.orchestration
async def batch_processor(ctx: OrchestrationContext, items: list[str]) -> dict[str, Any]:
    """Process every item in parallel; report which succeeded and which failed."""
    tasks = [ctx.activity(process_item, item) for item in items]
    results = await ctx.all(tasks, return_exceptions=True)
    succeeded = {
        item: r for item, r in zip(items, results, strict=True) if not isinstance(r, TaskFailed)
    }
    failed = {
        item: r.message for item, r in zip(items, results, strict=True) if isinstance(r, TaskFailed)
    }
    return {"succeeded": succeeded, "failed": failed}


@reg.orchestration
async def dynamic_fan_out(ctx: OrchestrationContext, queue: str) -> dict[str, Any]:
    """Ask an activity how much work there is, then fan out over exactly that."""
    pending = await ctx.activity(list_pending_tasks, queue)
    results = await ctx.all([ctx.activity(process_task, t) for t in pending])
    return {"completed": len(results), "sum": sum(results)}


@reg.orchestration
async def validate_user(ctx: OrchestrationContext, user_id: str) -> bool:
    """All checks run at once; any failure (or a False) rejects the user."""
    checks = [check_email_verified, check_kyc_completed, check_not_blacklisted]
    try:
        results = await ctx.all([ctx.activity(check, user_id) for check in checks])
    except ActivityFailed as exc:
        raise RuntimeError(f"validation of {user_id} could not run: {exc}") from exc
    failed = [check.__name__ for check, ok in zip(checks, results, strict=True) if not ok]
    if failed:
        ctx.set_status({"rejected_by": failed})
        return False
    return True


@reg.orchestration
async def enrich_product(ctx: OrchestrationContext, product_id: str) -> dict[str, Any]:
    """Fetch from every source at once; keep what arrived within its timeout, note the rest."""
    names = list(ENRICHMENT_SOURCES)
    tasks = [
        ctx.activity(ENRICHMENT_SOURCES[name], product_id, timeout=SOURCE_TIMEOUT) for name in names
    ]
    results = await ctx.all(tasks, return_exceptions=True)
    enriched: dict[str, Any] = {"product_id": product_id, "missing": {}}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, TaskFailed):
            enriched["missing"][name] = result.error_type
        else:
            enriched[name] = result
    return enriched


# --- fuzzing: orch-fuzz examples/patterns/fan_out_fan_in.py:batch_processor ----------------------


def _results(run: Run) -> list[tuple[str, Any, Any]]:
    """(activity name, its input, the recorded result event) for every finished call, in order."""
    calls = {e.task_id: e for e in run.history if isinstance(e, h.ActivityScheduled)}
    return [
        (calls[e.task_id].name, calls[e.task_id].input, e)
        for e in run.history
        if isinstance(e, h.ActivityCompleted | h.ActivityFailed)
    ]


def one_entry_per_item(run: Run) -> None:
    """batch_processor: every item is in exactly one of succeeded/failed, as its call ended."""
    items = run.history[0].input  # type: ignore[attr-defined]
    succeeded, failed = run.output["succeeded"], run.output["failed"]
    assert sorted([*succeeded, *failed]) == sorted(items), f"{items} -> {run.output}"
    for _, item, event in _results(run):
        if isinstance(event, h.ActivityCompleted):
            assert succeeded.get(item) == event.result, f"{item}: {run.output}"
        else:
            assert failed.get(item) == event.message, f"{item}: {run.output}"


def width_from_the_activity(run: Run) -> None:
    """dynamic_fan_out: exactly one process_task per task the listing returned, none before."""
    results = _results(run)
    listed = results[0][2]
    assert results[0][0] == "list_pending_tasks" and isinstance(listed, h.ActivityCompleted)
    tasks = [e.input for e in run.history if isinstance(e, h.ActivityScheduled)][1:]
    assert tasks == listed.result, f"fanned out over {tasks}, the listing said {listed.result}"
    if run.status == Status.COMPLETED:
        squares = [e.result for name, _, e in results if name == "process_task"]
        assert run.output == {"completed": len(tasks), "sum": sum(squares)}, run.output
    else:
        assert any(isinstance(e, h.ActivityFailed) for _, _, e in results), run.error


def valid_only_if_every_check_passed(run: Run) -> None:
    """validate_user: True only when all three checks ran and said yes; a failed check fails."""
    verdicts = {name: e for name, _, e in _results(run)}
    if run.status == Status.FAILED:
        assert any(isinstance(e, h.ActivityFailed) for e in verdicts.values()), run.error
        return
    assert len(verdicts) == 3 and all(isinstance(e, h.ActivityCompleted) for e in verdicts.values())
    assert run.output is all(e.result for e in verdicts.values()), (verdicts, run.output)


def every_source_present_or_missing(run: Run) -> None:
    """enrich_product: each source is kept or noted missing (never both, never neither), and a
    kept source holds exactly what that source answered."""
    out = run.output
    assert run.status == Status.COMPLETED, run.error
    for name, activity in ENRICHMENT_SOURCES.items():
        assert (name in out) != (name in out["missing"]), f"{name}: {out}"
        answered = [e for n, _, e in _results(run) if n == activity.__name__]
        if name in out:
            assert answered and out[name] == answered[0].result, f"{name}: {out}"


FUZZ: dict[str, dict[str, Any]] = {
    "batch_processor": {
        "input": ["x", "bad-1", "y"],
        "outcomes": {process_item: [process_item, fail(ConnectionError("worker lost"))]},
        "invariant": one_entry_per_item,
    },
    "dynamic_fan_out": {
        "input": "nightly-4",
        "outcomes": {process_task: [process_task, process_task, fail("task queue unavailable")]},
        "invariant": width_from_the_activity,
    },
    "validate_user": {
        "input": "alice",
        "outcomes": {
            check_kyc_completed: [ok(True), ok(False), fail("KYC service down")],
            check_email_verified: [ok(True), ok(False)],
        },
        "invariant": valid_only_if_every_check_passed,
    },
    "enrich_product": {
        "input": "p-1",
        "outcomes": {
            fetch_reviews: [fetch_reviews, fail(ConnectionError("reset by peer"))],
            fetch_inventory: [fetch_inventory, fail("inventory service down")],
        },
        "invariant": every_source_present_or_missing,
    },
}
