"""Activity template: idempotent activities, an idempotent database write, an API behind a breaker.

Seed: 003 ("Activity Design Patterns": 1. the standard activity template (validate input, do the
work, return a result with metadata); 2. the database activity (all operations in one
transaction, rolled back on failure); 3. the external API activity (a circuit breaker in front
of the call, retries, failures recorded in the breaker)).

Activities run at least once: a worker can die after the work and before its result is
stored, or two workers can get the same item. Each activity here is safe to run twice:

* `charge_card` passes ``activity_info().idempotency_key`` (the same for every execution and
  retry of one call) to the payment provider, which returns the first charge again for a key
  it has seen; it validates its input first and fails with a `ValueError` naming the field.
* `record_order` writes the order and its lines in one SQLite transaction, keyed by the
  idempotency key (``INSERT ... ON CONFLICT DO NOTHING``): a second run writes nothing and
  returns the first run's row id; a failure half-way rolls the whole write back.
* `fetch_exchange_rate` calls an external API through a worker-side `CircuitBreaker`: once open
  it fails at once with ``CircuitOpen`` (listed as non-retryable in the call's `RetryPolicy`, so
  the orchestration hears about it at once instead of hammering the service).

Activities are ordinary code (clocks, I/O and module state are fine here); only the
orchestration `place_order` must be deterministic, and it only schedules them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, RetryPolicy, activity_info
from orchestrate import history as h
from testkit import Run, fail

reg = Registry()


# --- 1. the payment provider, and an idempotent charge -------------------------------------------


class PaymentProvider:
    """A stand-in for a PSP that honours idempotency keys (as Stripe's API does)."""

    def __init__(self) -> None:
        self.charges: dict[str, dict[str, Any]] = {}  # idempotency key -> charge
        self.log: list[dict[str, Any]] = []  # every charge made, in order (money moved)
        self._lock = threading.Lock()

    def charge(
        self, amount: int, card: str, reference: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Charge `card`; a key seen before returns its first charge instead of a new one."""
        with self._lock:
            if idempotency_key is not None and idempotency_key in self.charges:
                return self.charges[idempotency_key]
            charge = {
                "id": f"ch_{len(self.log) + 1}",
                "amount": amount,
                "card": card,
                "reference": reference,
                "key": idempotency_key,
            }
            self.log.append(charge)
            if idempotency_key is not None:
                self.charges[idempotency_key] = charge
            return charge


PROVIDER = PaymentProvider()


@reg.activity(retry=RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=1)))
def charge_card(payment: dict[str, Any]) -> dict[str, Any]:
    for name in ("amount", "card"):
        if not payment.get(name):
            raise ValueError(f"charge_card: the payment has no {name!r}; got {sorted(payment)}")
    key = activity_info().idempotency_key  # same on every execution of this call
    charge = PROVIDER.charge(
        int(payment["amount"]), payment["card"], payment["reference"], idempotency_key=key
    )
    return {"charge_id": charge["id"], "idempotency_key": key}


# --- 2. an idempotent database write ---------------------------------------------------------------


class OrderDatabase:
    """Orders and their lines in SQLite; every write is one transaction keyed by a request key."""

    def __init__(self, path: str = ":memory:") -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self.conn.executescript(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, request_key TEXT UNIQUE,"
            " customer TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS lines (order_id INTEGER, sku TEXT NOT NULL, qty INTEGER"
            " CHECK (qty > 0));"
        )

    def record(self, request_key: str, order: dict[str, Any]) -> int:
        with self._lock:
            cur = self.conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "INSERT INTO orders (request_key, customer) VALUES (?, ?) "
                    "ON CONFLICT(request_key) DO NOTHING",
                    (request_key, order["customer"]),
                )
                inserted = cur.rowcount == 1
                (order_id,) = cur.execute(
                    "SELECT id FROM orders WHERE request_key = ?", (request_key,)
                ).fetchone()
                if inserted:
                    cur.executemany(
                        "INSERT INTO lines (order_id, sku, qty) VALUES (?, ?, ?)",
                        [(order_id, line["sku"], line["qty"]) for line in order["lines"]],
                    )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")  # all or nothing: no order without its lines
                raise
            return int(order_id)

    def count(self, table: str) -> int:
        assert table in ("orders", "lines")
        with self._lock:
            return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


DATABASE = OrderDatabase()


@reg.activity
def record_order(order: dict[str, Any]) -> int:
    return DATABASE.record(activity_info().idempotency_key, order)


# --- 3. an external API behind a circuit breaker --------------------------------------------------


class CircuitOpen(Exception):
    """The breaker is open: the service failed too often lately; not called."""


class CircuitBreaker:
    """Consecutive failures open the breaker for `cool_down` seconds (monotonic clock)."""

    def __init__(
        self,
        threshold: int = 3,
        cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.cool_down, self.clock = threshold, cool_down, clock
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    def call(self, service: str, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if self.opened_at is not None and self.clock() - self.opened_at < self.cool_down:
                raise CircuitOpen(f"{service}: circuit open after {self.failures} failures")
        try:
            result = fn()
        except Exception:
            with self._lock:
                self.failures += 1
                if self.failures >= self.threshold:
                    self.opened_at = self.clock()
            raise
        with self._lock:
            self.failures, self.opened_at = 0, None
        return result


RATES_BREAKER = CircuitBreaker()


def rates_api(pair: str) -> float:
    """The external call (an HTTP request in real life)."""
    return {"EUR/USD": 1.08, "GBP/USD": 1.27}[pair]


@reg.activity(
    retry=RetryPolicy(
        max_attempts=3,
        initial_interval=timedelta(seconds=2),
        non_retryable=("CircuitOpen", "KeyError"),
    ),
    timeout=timedelta(seconds=10),
)
def fetch_exchange_rate(pair: str) -> float:
    rate: float = RATES_BREAKER.call("rates-api", lambda: rates_api(pair))
    return rate


# --- the orchestration using them -----------------------------------------------------------------


@reg.orchestration
async def place_order(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    rate = await ctx.activity(fetch_exchange_rate, f"{order['currency']}/USD")
    amount = round(order["total"] * rate)
    charge = await ctx.activity(
        charge_card, {"amount": amount, "card": order["card"], "reference": ctx.instance_id}
    )
    order_id = await ctx.activity(record_order, order)
    return {"order_id": order_id, "charge_id": charge["charge_id"], "usd": amount}


# --- fuzzing: orch-fuzz examples/patterns/activity_template.py:place_order ------------------------

ORDER: dict[str, Any] = {
    "customer": "c-1",
    "currency": "EUR",
    "total": 100,
    "card": "4242",
    "lines": [{"sku": "tea", "qty": 2}],
}


def _call_keys(run: Run, activity: str) -> set[str]:
    """The idempotency keys of this run's calls of `activity` (the same as its executions')."""
    return {
        f"{run.instance_id}:0:{e.call_id or e.task_id}"
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name == activity
    }


def charged_at_most_once_and_written_once(run: Run) -> None:
    """However often the activities ran (retries, crashes, duplicate deliveries), the provider
    charged this order at most once and the database holds at most one row for it (with all
    its lines); a completed order names the charge and the row that exist."""
    keys = _call_keys(run, "charge_card")
    # this run's charge calls (instance ids repeat across fuzz runs: match the call's key too)
    charges = [
        c
        for c in PROVIDER.log
        if c["reference"] == run.instance_id and (c["key"] is None or c["key"] in keys)
    ]
    assert len(charges) <= 1, f"charged {len(charges)} times for one order: {charges}"
    rows = [
        row
        for key in sorted(_call_keys(run, "record_order"))
        for row in DATABASE.conn.execute(
            "SELECT id, (SELECT count(*) FROM lines WHERE order_id = orders.id) FROM orders "
            "WHERE request_key = ?",
            (key,),
        )
    ]
    assert len(rows) <= 1 and all(n == len(ORDER["lines"]) for _, n in rows), rows
    if run.output is not None and "charge_id" in run.output:
        assert [c["id"] for c in charges] == [run.output["charge_id"]], (charges, run.output)
        assert [r for r, _ in rows] == [run.output["order_id"]], (rows, run.output)


FUZZ: dict[str, dict[str, Any]] = {
    "place_order": {
        "input": ORDER,
        "outcomes": {fetch_exchange_rate: [1.08, fail("rates API 503")]},
        "invariant": charged_at_most_once_and_written_once,
    },
}
