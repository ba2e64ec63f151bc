"""A SQLite database of instances in every state `orchestrate ui` shows, for its tests and for
the screenshots in `docs/` (``python -m tests.orchestrate.ui.demo PATH.db``).

Completed (with retries, a timer and a child), failed (with a traceback), stuck (its code
changed under it), running (waiting for an event) and one whose id holds markup and a terminal
escape. Driven on the calling thread with a clock that ticks on every read, so the same calls
give the same database (times included) every time, and the bars have widths.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from orchestrate import Client, OrchestrationContext, Registry, RetryPolicy, Worker
from orchestrate.stores.sqlite import SqliteStore

START = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
HOSTILE = "<script>alert('id')</script>\x1b[31mred\u202e"

reg = Registry()
_changed = [False]


class TickingClock:
    """A clock that moves `step` seconds each time it is read; `jump` skips to a time."""

    def __init__(self, start: datetime = START, step: float = 0.35) -> None:
        self.current = start
        self.step = timedelta(seconds=step)

    def now(self) -> datetime:
        self.current += self.step
        return self.current

    def jump(self, moment: datetime) -> None:
        self.current = max(self.current, moment)


@reg.activity
def reserve(line: dict) -> str:
    return f"R-{line['sku']}"


_declines: dict[str, int] = {}


@reg.activity(
    retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=2), backoff=2.0)
)
def charge(order: dict) -> str:
    """Declines `order["declines"]` times per order, then succeeds (or always: "always")."""
    key = order["id"]
    _declines[key] = _declines.get(key, 0) + 1
    if order.get("declines") == "always" or _declines[key] <= int(order.get("declines", 0)):
        raise ValueError(f"card <declined> for {key}")
    return f"tx-{key}"


@reg.activity
def notify(order: dict) -> None:
    return None


@reg.orchestration
async def ship(ctx: OrchestrationContext, order: dict) -> str:
    label = await ctx.activity(reserve, {"sku": "label"})
    await ctx.sleep(timedelta(minutes=5))
    return f"shipped {order['id']} with {label}"


@reg.orchestration
async def checkout(ctx: OrchestrationContext, order: dict) -> dict:
    ctx.set_status({"phase": "reserving"})
    held = await ctx.all([ctx.activity(reserve, line) for line in order["lines"]])
    ctx.set_status({"phase": "charging"})
    tx = await ctx.activity(charge, order)
    await ctx.sleep(timedelta(minutes=2))
    shipped = await ctx.sub_orchestration(ship, order, instance_id=f"{ctx.instance_id}:ship")
    ctx.set_status({"phase": "done"})
    return {"reserved": held, "tx": tx, "shipping": shipped}


@reg.orchestration
async def approval(ctx: OrchestrationContext, order: dict) -> str:
    ctx.set_status({"phase": "waiting for approval"})
    await ctx.activity(notify, order)
    answer = await ctx.event("Approve")
    return f"approved: {answer}"


@reg.orchestration
async def parked(ctx: OrchestrationContext, order: dict) -> object:
    if _changed[0]:
        ctx.activity(notify, order)  # a bad deploy: a command the recorded run never issued
    return await ctx.event("go")


def _order(key: str, lines: int = 2, declines: int | str = 0) -> dict:
    return {"id": key, "lines": [{"sku": f"sku-{n}"} for n in range(lines)], "declines": declines}


def drive(worker: Worker, store: SqliteStore, clock: TickingClock, rounds: int = 2_000) -> None:
    """Run every turn and activity, jumping the clock to each due timer, until only waits on
    events (or held, stuck turns) are left."""
    for _ in range(rounds):
        if worker.poll_once():
            continue
        due = store.next_wakeup()
        if due is None or due > clock.current + timedelta(hours=1):
            return
        clock.jump(due + timedelta(milliseconds=1))
    raise AssertionError("the demo never settled")


def build(path: str, *, extra: int = 0) -> dict[str, str]:
    """Create the demo database at `path`; the ids of its instances by what they show.

    `extra` more completed checkouts fill the list (for paging).
    """
    _declines.clear()
    _changed[0] = False
    clock = TickingClock()
    store = SqliteStore(path)
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock, sync_activities=1, nondeterminism_retry=3600)
    ids = {
        "completed": "order-1001",
        "retried": "order-1002",
        "failed": "order-1003",
        "running": "order-1004",
        "stuck": "order-1005",
        "hostile": HOSTILE,
    }
    client.start(checkout, _order(ids["completed"], lines=3), instance_id=ids["completed"])
    drive(worker, store, clock)
    client.start(checkout, _order(ids["retried"], declines=1), instance_id=ids["retried"])
    drive(worker, store, clock)
    client.start(checkout, _order(ids["failed"], declines="always"), instance_id=ids["failed"])
    drive(worker, store, clock)
    client.start(approval, _order(ids["running"]), instance_id=ids["running"])
    client.start(parked, _order(ids["stuck"]), instance_id=ids["stuck"])
    client.start(approval, _order("hostile"), instance_id=ids["hostile"])
    for n in range(extra):
        client.start(checkout, _order(f"bulk-{n:05d}", lines=1), instance_id=f"bulk-{n:05d}")
    drive(worker, store, clock)
    _changed[0] = True  # the next turn of "stuck" no longer replays: it fails and is held
    client.raise_event(ids["stuck"], "go", True)
    changed = Worker(reg, store, clock=clock, sync_activities=1, nondeterminism_retry=3600)
    while changed.poll_once():  # once: the failed turn is then held for an hour
        pass
    _changed[0] = False
    store.close()
    return ids


if __name__ == "__main__":
    print(build(sys.argv[1], extra=int(sys.argv[2]) if len(sys.argv) > 2 else 0))
