"""`orchestrate ui` at scale: list pages over 100,000 instances and a timeline of 5,000 events.

A SQLite store of N instances (default 100,000; created with synchronous=normal to save time).
Each figure is the median of 5 runs of one page query (`Store.query_instances`, 50 rows) plus
its HTML (`list_body`). Ratios against baselines measured in the same run:

- keyset paging: the last page (by its cursor) against the first page. Target: <= 3 (a deep
  page costs no more than the first one);
- for comparison, OFFSET paging to the same depth (plain SQL), against the first page;
- filters: status, name, a text search (a scan of every row), stuck only;
- the instance page of one instance with a 5,000-event history (2,500 activities): timeline and
  page HTML. Target: under 1 s.

Run: .venv/bin/python bench/ui_pages.py [--instances 100000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from orchestrate import history as h
from orchestrate.state import InstanceQuery, InstanceState, Message, Status
from orchestrate.stores.sqlite import SqliteStore
from orchestrate.ui.instance_page import instance_body
from orchestrate.ui.list_page import cursor_of, list_body, parse_filters

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def median_time(action: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def fill(store: SqliteStore, count: int) -> None:
    names = ("checkout", "shipping", "refund", "approval")
    for n in range(count):
        when = T0 + timedelta(seconds=n)
        key = f"order-{n:06d}"
        name = names[n % len(names)]
        state = InstanceState(key, name, Status.PENDING, {"n": n}, created_at=when, updated_at=when)
        start = Message(key, h.OrchestrationStarted(when, name, {"n": n}, key, 0), 0)
        store.create_instance(state, start)


def page(store: SqliteStore, params: dict[str, str]) -> tuple[list[InstanceState], str]:
    filters = parse_filters(params)
    found = store.query_instances(filters.query)
    return found, list_body(filters, found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=100_000)
    count = parser.parse_args().instances
    folder = tempfile.mkdtemp(prefix="orch-ui-bench-")
    path = os.path.join(folder, "ui.db")
    store = SqliteStore.from_url(f"sqlite:///{path}?synchronous=normal")
    began = time.perf_counter()
    fill(store, count)
    print(f"created {count:,} instances in {time.perf_counter() - began:.1f} s")

    first = median_time(lambda: page(store, {}))
    # The cursor of the next-to-last page: the instance 100 from the oldest (the walk of every
    # page in between is what a person paging would do; the last page's cost is the point).
    oldest = store.query_instances(InstanceQuery(before=(T0 + timedelta(seconds=100), ""), limit=1))
    cursor = cursor_of(oldest[0])
    pages = count // 50
    last = median_time(lambda: page(store, {"cursor": cursor}))
    offset = (pages - 1) * 50
    db = sqlite3.connect(path)  # the baseline: OFFSET paging in plain SQL, same file
    sql = "SELECT * FROM instances ORDER BY created_at DESC, instance_id DESC LIMIT 50 OFFSET ?"
    deep_offset = median_time(lambda: db.execute(sql, (offset,)).fetchall())
    first_offset = median_time(lambda: db.execute(sql, (0,)).fetchall())
    db.close()
    print(f"first page {first * 1000:.1f} ms")
    print(f"last page by keyset cursor {last * 1000:.1f} ms: ratio last/first {last / first:.2f} "
          f"(target <= 3)")
    print(f"for comparison, OFFSET {offset:,} in plain SQL: {deep_offset * 1000:.1f} ms vs "
          f"{first_offset * 1000:.1f} ms at offset 0 (ratio {deep_offset / first_offset:.1f})")
    for label, params in (
        ("status=completed (no match)", {"status": "completed"}),
        ("name=refund", {"name": "refund"}),
        ("text=order-09999 (scans every row)", {"text": "order-09999"}),
        ("stuck only (no match)", {"stuck": "1"}),
    ):
        took = median_time(lambda params=params: page(store, params))
        print(f"filter {label}: {took * 1000:.1f} ms")
    store.close()

    events: list[h.Event] = [h.OrchestrationStarted(T0, "big", None, "big")]
    for n in range(2_500):
        moment = T0 + timedelta(seconds=n)
        events.append(h.ActivityScheduled(moment, n, f"step-{n % 7}", {"n": n}))
        events.append(h.ActivityCompleted(moment + timedelta(seconds=0.8), n, n))
    state = InstanceState("big", "big", Status.COMPLETED, None, output=1, created_at=T0,
                          updated_at=T0, history_len=len(events))
    took = median_time(lambda: instance_body(state, events), runs=3)
    size = len(instance_body(state, events))
    print(f"instance page of {len(events):,} events: {took * 1000:.0f} ms, {size / 1e6:.1f} MB "
          "of HTML (target: under 1 s)")
    ok = last / first <= 3 and took < 1.0
    print("PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
