"""The status decisions every store shares (`contract.reused_generation`, `must_be_running`,
`must_be_finished`), on plain values: a status as the `Status` the memory store keeps or as the
text the SQL stores read back, where a damaged text counts as running."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrate import history as h
from orchestrate.errors import DuplicateInstance, InstanceNotFound, InstanceNotRunning
from orchestrate.state import InstanceState, Status
from orchestrate.stores.contract import (
    child_refused,
    must_be_finished,
    must_be_running,
    reused_generation,
)

RUNNING = [Status.RUNNING, "running", "pending", "garbled"]
FINISHED = [Status.COMPLETED, "completed", "failed", "terminated"]


@pytest.mark.parametrize("status", FINISHED)
def test_reuse_replaces_a_finished_run_with_the_next_generation(status: Status | str) -> None:
    assert reused_generation("a", status, 3, reuse=True, signal=False) == 4
    assert reused_generation("a", status, 3, reuse=True, signal=True) == 4


@pytest.mark.parametrize("status", RUNNING)
def test_a_signal_leaves_a_running_holder_alone(status: Status | str) -> None:
    assert reused_generation("a", status, 3, reuse=True, signal=True) is None
    assert reused_generation("a", status, 3, reuse=False, signal=True) is None


@pytest.mark.parametrize(
    ("status", "reuse", "hint"),
    [
        *[
            (s, r, "still running; wait for it or terminate it")
            for s in RUNNING
            for r in (False, True)
        ],
        *[(s, False, "pass reuse=True") for s in FINISHED],
    ],
)
def test_a_taken_id_is_refused_with_what_to_do(
    status: Status | str, reuse: bool, hint: str
) -> None:
    with pytest.raises(DuplicateInstance, match=f"'a' already exists \\({status}\\); .*{hint}"):
        reused_generation("a", status, 3, reuse=reuse, signal=False)


@pytest.mark.parametrize("status", RUNNING)
def test_must_be_running_passes_a_running_instance(status: Status | str) -> None:
    must_be_running("a", status, "it takes no more messages")
    with pytest.raises(InstanceNotRunning, match=f"'a' is {status}; terminate it before purging"):
        must_be_finished("a", status)


@pytest.mark.parametrize("status", FINISHED)
def test_must_be_finished_passes_a_finished_instance(status: Status | str) -> None:
    must_be_finished("a", status)
    with pytest.raises(InstanceNotRunning, match=f"'a' is {status}; there is no turn to retry"):
        must_be_running("a", status, "there is no turn to retry")


def test_a_missing_instance_is_not_found() -> None:
    with pytest.raises(InstanceNotFound, match="no instance with id 'a'; check the id with `list`"):
        must_be_running("a", None, "it takes no more messages")
    with pytest.raises(InstanceNotFound, match=r"no instance with id 'a'$"):
        must_be_finished("a", None)


def test_a_refused_child_tells_its_parent_which_instance_holds_its_id() -> None:
    t0 = datetime(2031, 1, 2, tzinfo=UTC)
    kid = InstanceState(
        "x",
        "kid",
        Status.PENDING,
        created_at=t0,
        parent_instance="p",
        parent_generation=2,
        parent_task=7,
    )
    notice = child_refused(kid, "other")
    assert notice is not None and (notice.instance_id, notice.generation) == ("p", 2)
    assert notice.event == h.SubOrchestrationFailed(
        t0,
        7,
        "DuplicateInstance",
        "cannot start sub-orchestration 'kid': instance id 'x' is already used by a 'other' "
        "instance; pass a unique instance_id",
    )
    assert child_refused(InstanceState("x", "kid", Status.PENDING), "other") is None
