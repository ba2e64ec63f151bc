"""History events as data: their names, commands, short descriptions and times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from orchestrate import history as h

from .conftest import START


def test_event_types_name_every_event_class_and_commands_are_marked() -> None:
    assert all(name == cls.__name__ for name, cls in h.EVENT_TYPES.items())
    assert len(h.EVENT_TYPES) == 20
    commands = {name for name, cls in h.EVENT_TYPES.items() if cls.is_command}
    assert commands == h.COMMAND_TYPES
    assert "ActivityScheduled" in commands and "TimerFired" not in commands


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (h.ActivityScheduled(START, 5, "charge", {"amount": 3.5}, 2, 1), "ActivityScheduled('charge')"),
        (h.PatchMarker(START, 9, "new-pricing"), "PatchMarker('new-pricing')"),
        (
            h.TimerCreated(START, 6, START + timedelta(days=30), "retry"),
            "TimerCreated(fire_at=2024-01-31T00:00:00Z, retry)",
        ),
        (h.OrchestrationCompleted(START, "done"), "OrchestrationCompleted()"),
        (h.EventSent(START, 4, "order-7", "Restock", 1), "EventSent('Restock' to 'order-7')"),
    ],
)
def test_describe_is_short_and_names_the_command(event: h.Event, text: str) -> None:
    assert h.describe(event) == text


def test_error_info_reads_well() -> None:
    assert str(h.ErrorInfo("KeyError", "'x'")) == "KeyError: 'x'"
    assert str(h.ErrorInfo("E", "m", "tb")).endswith("\ntb")


def test_iso_time_is_utc_with_z_whatever_the_input_zone() -> None:
    assert h.iso_time(START) == "2024-01-01T00:00:00Z"
    east = timezone(timedelta(hours=2))
    assert h.iso_time(datetime(2024, 1, 1, 2, tzinfo=east)) == "2024-01-01T00:00:00Z"


def test_the_cli_timeline_names_the_target_of_a_raised_event_and_hides_defaults() -> None:
    from orchestrate.cli_text import detail as _detail

    sent = h.EventSent(START, 4, "order-7", "Restock", {"sku": 1})
    assert _detail(sent) == 'Restock #4 -> order-7 input={"sku":1}'
    assert _detail(h.SubOrchestrationScheduled(START, 2, "ship", None, "o:ship")) == (
        "ship #2 input=null"
    )
    assert "abandon" in _detail(h.SubOrchestrationScheduled(START, 2, "ship", 1, "x", "abandon"))
    assert _detail(h.OrchestrationTerminated(START, "stop")) == "reason=stop"
    assert _detail(h.OrchestrationTerminated(START, "stop", "p")) == "reason=stop parent=p"
