"""`orchestrate.ui.timeline`: hand-built histories in, bars and points (and their SVG) out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from orchestrate import history as h
from orchestrate.ui import timeline

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


RETRIED = [
    h.OrchestrationStarted(at(0), "flow", {"n": 1}, "i"),
    h.ActivityScheduled(at(0), 0, "charge", 1),
    h.TimerCreated(at(0), 1, at(100), "timer"),
    h.ActivityFailed(at(2), 0, "ValueError", "declined"),
    h.TimerCreated(at(2), 2, at(4), "retry"),
    h.TimerFired(at(4), 2),
    h.ActivityScheduled(at(4), 3, "charge", 1, attempt=2, call_id=0),
    h.ActivityCompleted(at(6), 3, "tx"),
    h.SubOrchestrationScheduled(at(6), 4, "ship", None, "i:ship"),
    h.EventRaised(at(7), "Approve", True),
    h.SubOrchestrationCompleted(at(9), 4, "ok"),
    h.OrchestrationCompleted(at(10), "done"),
]


def test_rows_bars_and_points() -> None:
    line = timeline.build(RETRIED)
    assert line.rows == ["charge #0", "timer #1", "ship → i:ship"]
    bars = [(b.kind, b.row, b.task_id, b.start, b.end, b.outcome) for b in line.bars]
    assert bars == [
        ("activity", 0, 0, at(0), at(2), "failed"),
        ("timer", 1, 1, at(0), at(100), "pending"),  # never fired: drawn to its due time
        ("timer", 0, 2, at(2), at(4), "fired"),  # the retry's back-off, on the call's row
        ("activity", 0, 3, at(4), at(6), "completed"),
        ("child", 2, 4, at(6), at(9), "completed"),
    ]
    assert [b.attempt for b in line.bars if b.kind == "activity"] == [1, 2]
    assert [p.kind for p in line.points] == ["OrchestrationStarted", "EventRaised", "OrchestrationCompleted"]
    assert not line.by_order


def test_an_open_activity_runs_to_now() -> None:
    events = [h.OrchestrationStarted(at(0), "f", None, "i"), h.ActivityScheduled(at(1), 0, "slow", None)]
    [bar] = timeline.build(events).bars
    assert bar.end is None and bar.outcome == "open"
    drawn = timeline.svg(timeline.build(events), now=at(11))
    x, width = (float(v) for v in re.search(r'rect class="bar activity open" x="([\d.]+)" y="\d+" width="([\d.]+)"', drawn).groups())
    assert x + width == pytest.approx(1100 - 40)  # the plot's right edge is "now"
    assert x == pytest.approx(230 + (1100 - 230 - 40) / 11, abs=0.1)  # 1 s of 11 s in


def test_svg_positions_follow_time() -> None:
    drawn = timeline.svg(timeline.build(RETRIED[:8]))
    rects = re.findall(r'x="([\d.]+)" y="(\d+)" width="([\d.]+)"[^>]*data-kind="(\w+)" data-task="(\d+)"', drawn)
    starts = {int(task): float(x) for x, _, _, _, task in rects}
    assert starts[0] < starts[2] < starts[3]
    assert 'data-axis="time"' in drawn
    assert "<title>" in drawn


def test_one_instant_is_drawn_in_event_order() -> None:
    events = [
        h.OrchestrationStarted(T0, "f", None, "i"),
        h.ActivityScheduled(T0, 0, "a", None),
        h.ActivityScheduled(T0, 1, "b", None),
        h.ActivityCompleted(T0, 1, None),
        h.ActivityCompleted(T0, 0, None),
    ]
    line = timeline.build(events)
    assert line.by_order
    drawn = timeline.svg(line)
    assert 'data-axis="order"' in drawn
    found = dict(re.findall(r'x="([\d.]+)"[^>]*data-task="(\d+)"', drawn)[::1])
    xs = {task: float(x) for x, task in found.items()}
    assert xs["0"] < xs["1"]  # a scheduled before b


def test_children_link_only_with_a_link_function() -> None:
    line = timeline.build(RETRIED)
    assert "<a " not in timeline.svg(line)
    linked = timeline.svg(line, link=lambda key: f"/instance?id={key}")
    assert '<a href="/instance?id=i:ship">' in linked


def test_names_and_payloads_are_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>\x1b[2J"
    events = [
        h.OrchestrationStarted(at(0), evil, evil, evil),
        h.ActivityScheduled(at(0), 0, evil, {"x": evil}),
        h.EventRaised(at(1), evil, evil),
        h.SubOrchestrationScheduled(at(1), 1, evil, None, evil),
    ]
    drawn = timeline.svg(timeline.build(events), link=lambda key: "/i?id=" + key)
    assert "<img" not in drawn and "\x1b" not in drawn
    assert "&lt;img src=x onerror=alert(1)&gt;\\x1b[2J" in drawn


def test_thousands_of_events() -> None:
    events: list[h.Event] = [h.OrchestrationStarted(at(0), "f", None, "i")]
    for n in range(1500):
        events.append(h.ActivityScheduled(at(n), n, "step", n))
        events.append(h.ActivityCompleted(at(n + 0.5), n, n))
    line = timeline.build(events)
    assert len(line.bars) == len(line.rows) == 1500
    drawn = timeline.svg(line)
    assert drawn.count('class="bar activity completed"') == 1500
    height = int(re.search(r'height="(\d+)"', drawn).group(1))
    assert height == 34 + 20 * 1501 + 8  # one 20 px row each: scrolls, never squashed


@pytest.mark.parametrize(
    ("seconds", "labels"),
    [
        (11, ["00:00:00 UTC", "+2s", "+4s", "+6s", "+8s", "+10s"]),
        (440, ["00:00:00 UTC", "+2m", "+4m", "+6m"]),
        (5 * 3600, ["00:00:00 UTC", "+1h", "+2h", "+3h", "+4h", "+5h"]),
        (0.4, ["00:00:00 UTC", "+100ms", "+200ms", "+300ms", "+400ms"]),
    ],
)
def test_the_time_axis_has_round_ticks(seconds: float, labels: list[str]) -> None:
    events = [h.OrchestrationStarted(at(0), "f", None, "i"), h.OrchestrationCompleted(at(seconds), None)]
    drawn = timeline.svg(timeline.build(events))
    assert re.findall(r'<text class="tickl"[^>]*>([^<]*)</text>', drawn) == labels


@pytest.mark.parametrize(("count", "labels"), [(1, ["event 0", "event 1"]), (3, ["event 0", "event 1", "event 2", "event 3"]), (40, ["event 0", "event 10", "event 20", "event 30", "event 40"])])
def test_the_order_axis_counts_whole_events(count: int, labels: list[str]) -> None:
    events: list[h.Event] = [h.OrchestrationStarted(T0, "f", None, "i")]
    events += [h.CustomStatusSet(T0, n, n) for n in range(count - 1)]
    drawn = timeline.svg(timeline.build(events))
    assert re.findall(r'<text class="tickl"[^>]*>([^<]*)</text>', drawn) == labels
