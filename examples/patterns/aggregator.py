"""Aggregator: accumulate a stream of events into running totals, across continue_as_new.

Seeds: 000 ("Aggregator Pattern": collect from several sources with a timeout each, aggregate
what arrived, fail if nothing did; "State Management": continue_as_new with the accumulated
state as the new input), 003 ("Event-Driven Workflow Pattern": a loop over signals raced
against a timeout).

`reading_aggregator` is a long-lived instance that sensors raise ``Reading`` events to. It
folds each reading into per-sensor totals until its window closes (a deadline fixed in the
first generation), then publishes one summary. Every `max_events_per_generation` readings it
continues as new with the totals as input, so the history stays small however many readings
arrive; readings raised while it restarts are buffered and carried over, never lost.

`aggregate_sources` is the request/response form: fetch from every source at once, each with
its own timeout, and aggregate whatever answered.

Replay-safe because the window's end is computed once from ``ctx.now()`` and carried in the
state; each wait races a fresh ``ctx.event`` against a timer for the time that remains, and the
history records which came first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status, TaskFailed
from orchestrate import history as h
from testkit import Run, fail

reg = Registry()


@dataclass
class Window:
    name: str
    window_minutes: int = 60
    max_events_per_generation: int = 10
    closes_at: str | None = None  # ISO time, fixed by the first generation
    count: int = 0
    sensors: dict[str, dict[str, float]] = field(default_factory=dict)


@reg.activity
def publish_summary(summary: dict[str, Any]) -> str:
    return f"published {summary['window']} ({summary['count']} readings)"


def _fold(window: Window, reading: dict[str, Any]) -> None:
    value = float(reading["value"])
    stats = window.sensors.get(reading["sensor"])
    if stats is None:
        window.sensors[reading["sensor"]] = {"count": 1, "sum": value, "min": value, "max": value}
    else:
        stats["count"] += 1
        stats["sum"] += value
        stats["min"] = min(stats["min"], value)
        stats["max"] = max(stats["max"], value)
    window.count += 1


@reg.orchestration
async def reading_aggregator(ctx: OrchestrationContext, window: Window) -> str:
    if window.closes_at is None:
        window.closes_at = (ctx.now() + timedelta(minutes=window.window_minutes)).isoformat()
    closes_at = datetime.fromisoformat(window.closes_at)

    for _ in range(window.max_events_per_generation):
        remaining = closes_at - ctx.now()
        if remaining <= timedelta(0):
            break
        reading, closing = ctx.event("Reading"), ctx.timer(remaining)
        if await ctx.any([reading, closing]) is closing:
            break
        _fold(window, reading.result())
        ctx.set_status({"count": window.count, "sensors": sorted(window.sensors)})
    else:
        ctx.continue_as_new(window)  # keep the history bounded; totals travel in the input

    summary = {
        "window": window.name,
        "count": window.count,
        "sensors": {
            sensor: {**stats, "mean": round(stats["sum"] / stats["count"], 3)}
            for sensor, stats in sorted(window.sensors.items())
        },
    }
    published: str = await ctx.activity(publish_summary, summary)
    return published


# --- request/response aggregation over several sources --------------------------------------


SOURCE_TIMEOUT = timedelta(seconds=5)


@reg.activity
def fetch_data(source: str) -> dict[str, Any]:
    return {"source": source, "rows": len(source)}


@reg.activity
def aggregate_data(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"sources": [r["source"] for r in rows], "rows": sum(r["rows"] for r in rows)}


@reg.orchestration
async def aggregate_sources(ctx: OrchestrationContext, sources: list[str]) -> dict[str, Any]:
    fetches = [ctx.activity(fetch_data, s, timeout=SOURCE_TIMEOUT) for s in sources]
    results = await ctx.all(fetches, return_exceptions=True)
    valid = [r for r in results if not isinstance(r, TaskFailed)]
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, TaskFailed):
            ctx.log.warning("no data from %s: %s", source, result)
    if not valid:
        raise RuntimeError(f"none of {len(sources)} data sources responded")
    aggregated: dict[str, Any] = await ctx.activity(aggregate_data, valid)
    return aggregated


# --- fuzzing: orch-fuzz examples/patterns/aggregator.py:reading_aggregator -----------------------

# Two readings per generation, so a third reading crosses a continue_as_new.
FUZZ_WINDOW = Window("w-1", window_minutes=60, max_events_per_generation=2)


def no_reading_lost_across_generations(run: Run) -> None:
    """The summary counts every reading: the ones carried in from earlier generations plus
    each one this generation received before its window closed, with consistent stats."""
    carried = run.history[0].input  # type: ignore[attr-defined]  # this generation's Window
    received = 0
    for e in run.history:
        if isinstance(e, h.TimerFired):
            break
        received += isinstance(e, h.EventRaised) and e.name == "Reading"
    [summary] = [
        e.input
        for e in run.history
        if isinstance(e, h.ActivityScheduled) and e.name == "publish_summary"
    ]
    assert summary["count"] == carried["count"] + received, (
        f"{carried['count']} carried in + {received} received, summary says {summary['count']}"
    )
    assert sum(s["count"] for s in summary["sensors"].values()) == summary["count"], summary
    for sensor, s in summary["sensors"].items():
        assert s["min"] <= s["mean"] <= s["max"], f"{sensor}: {s}"
    assert run.output == f"published {summary['window']} ({summary['count']} readings)"


def aggregates_exactly_the_sources_that_answered(run: Run) -> None:
    """aggregate_sources: the aggregate holds every source that answered in time, in input
    order, and only those (a late answer is recorded and ignored); no answer at all fails the
    instance without aggregating."""
    sources: list[str] = run.history[0].input  # type: ignore[attr-defined]
    calls = {e.task_id: e for e in run.history if isinstance(e, h.ActivityScheduled)}
    in_time: list[str] = []
    for e in run.history:
        if isinstance(e, h.TimerFired):  # every fetch has the same timeout: the rest are late
            break
        if isinstance(e, h.ActivityCompleted) and calls[e.task_id].name == "fetch_data":
            in_time.append(calls[e.task_id].input)
    answered = [s for s in sources if s in in_time]
    if not answered:
        assert run.status == Status.FAILED and "responded" in str(run.error), run.error
        assert all(c.name == "fetch_data" for c in calls.values()), "aggregated nothing"
    else:
        assert run.status == Status.COMPLETED, run.error
        assert run.output["sources"] == answered, f"aggregated {run.output}, answered {answered}"


FUZZ: dict[str, dict[str, Any]] = {
    "reading_aggregator": {
        "input": FUZZ_WINDOW,
        "events": {
            "Reading": [{"sensor": "t1", "value": 20.0}, {"sensor": "t2", "value": 18.5}],
        },
        "max_event_raises": 3,
        "invariant": no_reading_lost_across_generations,
    },
    "aggregate_sources": {
        "input": ["crm", "erp", "web"],
        "outcomes": {fetch_data: [fetch_data, fail(ConnectionError("connection reset"))]},
        "invariant": aggregates_exactly_the_sources_that_answered,
    },
}
