"""`stores.guards`: which turns of a batch apply (`decide`), on hand-built rows (no database), and
a batch encoded for a SQL write (`encode_batch`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrate import history as h
from orchestrate.state import (
    ActivityWork,
    Batch,
    CachedBase,
    InstanceState,
    Message,
    Status,
    TurnCommit,
)
from orchestrate.stores.guards import FINISHED, completions, decide, encode_batch
from orchestrate.stores.rows import TurnRows, message_row
from orchestrate.stores.times import to_micros

CREATED = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
MOMENT = to_micros(datetime(2031, 1, 2, 4, 0, 0, tzinfo=UTC))


def _state(key: str = "a") -> InstanceState:
    return InstanceState(key, "flow", Status.RUNNING, created_at=CREATED, generation=1)


def _locked(key: str = "a", token: str = "t1") -> TurnRows:
    return TurnRows(TurnCommit(_state(key), token, [], []))


def _result(item: int, lease: str = "L") -> tuple[ActivityWork, Message]:
    work = ActivityWork("a", 1, item, "act", None, id=item, lease_token=lease)
    return work, Message("a", h.ActivityCompleted(CREATED, item, item), 1)


def _cached(key: str = "a", items: tuple[int, ...] = (7,), history_len: int = 4) -> TurnRows:
    base = CachedBase(CREATED, 1, history_len, [_result(i) for i in items])
    return TurnRows(TurnCommit(_state(key), "", [], [], cached=base))


def _quiet(status: str = "running", expires: int | None = None) -> dict[str, tuple[Any, ...]]:
    """A quiet row for instance "a" as the turns above saw it."""
    return {"a": (1, to_micros(CREATED), 4, status, expires)}


def _mine(*items: int, lease: str = "L") -> dict[int, tuple[str | None, str]]:
    return {i: (lease, "a") for i in items}


def test_a_locked_turn_applies_when_it_holds_the_lock() -> None:
    turn = _locked()
    got = decide([turn], {"a": ("t1", 3, "running")}, {}, {}, MOMENT)
    assert got.applied == [True]
    assert got.winners == [(turn, 3, "running")]
    assert (got.refused, got.taken) == ([], [])


@pytest.mark.parametrize(
    "held",
    [
        pytest.param({}, id="instance gone"),
        pytest.param({"a": (None, 3, "running")}, id="unlocked"),
        pytest.param({"a": ("other", 3, "running")}, id="another lock"),
    ],
)
def test_a_locked_turn_is_refused_without_its_lock(
    held: dict[str, tuple[str | None, int, str]],
) -> None:
    got = decide([_locked()], held, {}, {}, MOMENT)
    assert got.applied == [False]
    assert (got.winners, got.refused, got.taken) == ([], [], [])


def test_only_the_first_turn_per_instance_applies() -> None:
    first, second, other = _locked(), _locked(), _locked("b", "t2")
    held = {"a": ("t1", 3, "running"), "b": ("t2", 0, "pending")}
    got = decide([first, second, other], held, {}, {}, MOMENT)
    assert got.applied == [True, False, True]
    assert got.winners == [(first, 3, "running"), (other, 0, "pending")]


def test_a_cached_turn_applies_and_takes_its_results() -> None:
    turn = _cached(items=(7, 8))
    got = decide([turn], {}, _quiet(expires=MOMENT), _mine(7, 8), MOMENT)
    assert got.applied == [True]
    assert got.winners == [(turn, 4, "running")]
    assert got.taken == [7, 8]
    assert got.refused == []


@pytest.mark.parametrize(
    ("quiet", "mine"),
    [
        pytest.param({}, _mine(7), id="gone or a message is visible"),
        pytest.param({"a": (2, to_micros(CREATED), 4, "running", None)}, _mine(7), id="new gen"),
        pytest.param({"a": (1, 0, 4, "running", None)}, _mine(7), id="another run"),
        pytest.param({"a": (1, to_micros(CREATED), 5, "running", None)}, _mine(7), id="moved on"),
        pytest.param(_quiet(status=FINISHED[0]), _mine(7), id="finished"),
        pytest.param(_quiet(expires=MOMENT + 1), _mine(7), id="live lock"),
        pytest.param(_quiet(), {}, id="result gone"),
        pytest.param(_quiet(), _mine(7, lease="other"), id="lease lost"),
    ],
)
def test_a_cached_turn_is_refused_and_its_results_completed_on_their_own(
    quiet: dict[str, tuple[Any, ...]], mine: dict[int, tuple[str | None, str]]
) -> None:
    turn = _cached()
    got = decide([turn], {}, quiet, mine, MOMENT)
    assert got.applied == [False]
    assert (got.winners, got.taken) == ([], [])
    work, message = turn.commit.cached.results[0]  # type: ignore[union-attr]
    assert got.refused == [(7, "L", message_row(message))]
    assert got.refused == completions([(work, message)])


def test_a_result_is_taken_once_per_batch() -> None:
    """A second claim on the same result fails (refused), even for another instance's turn;
    the caller's `mine` is left as it was."""
    mine = _mine(7)
    first, second = _cached(), _cached("b")
    quiet = {**_quiet(), "b": _quiet()["a"]}
    got = decide([first, second], {}, quiet, mine, MOMENT)
    assert got.applied == [True, False]
    assert got.taken == [7]
    assert [row[0] for row in got.refused] == [7]
    assert mine == _mine(7)


def test_a_cached_and_a_locked_turn_of_one_instance_apply_once() -> None:
    cached, locked = _cached(), _locked()
    got = decide([cached, locked], {"a": ("t1", 4, "running")}, _quiet(), _mine(7), MOMENT)
    assert got.applied == [True, False]
    assert got.winners == [(cached, 4, "running")]


# --- encode_batch --------------------------------------------------------------------------------


def test_an_empty_batch_writes_nothing() -> None:
    assert encode_batch(Batch(now=CREATED)) is None


def test_a_batch_that_needs_no_clock_does_not_read_it() -> None:
    commit = TurnCommit(_state(), "t1", [], [])
    encoded = encode_batch(Batch(turns=[commit], completions=[_result(7)]))  # now=None: unread
    assert encoded is not None
    assert (encoded.moment, encoded.expires) == (0, 300_000_000)
    assert [t.commit for t in encoded.turns] == [commit]
    assert encoded.completions == completions([_result(7)])


@pytest.mark.parametrize(
    "batch",
    [
        Batch(lease=1, now=CREATED, lease_seconds=2.5),
        Batch(renewals=[_result(7)[0]], now=CREATED, lease_seconds=2.5),
        Batch(turns=[_cached().commit], now=CREATED, lease_seconds=2.5),
    ],
    ids=["lease", "renewal", "cached turn"],
)
def test_a_lease_renewal_or_cached_turn_reads_the_batch_time(batch: Batch) -> None:
    encoded = encode_batch(batch)
    assert encoded is not None
    assert (encoded.moment, encoded.expires) == (to_micros(CREATED), to_micros(CREATED) + 2_500_000)


def test_a_batch_that_needs_the_clock_and_has_none_says_so() -> None:
    with pytest.raises(ValueError, match=r"Batch\.now is None"):
        encode_batch(Batch(lease=1))
