"""The replay check: run an orchestration's history again in a second execution and compare.

A worker that restarts rebuilds every instance by replaying its history, so an orchestration
that would diverge then is caught in the test, at the turn where it first happens, instead of in
production days later. Replays are strict: they compare command inputs as well as kinds and names.

Replaying the whole history from scratch after every turn costs O(n^2) over a long history (a
30-day monitor would spend seconds on it), so `ReplayChecker` does it in two parts, O(n) in all:

- after every turn, a *shadow* execution (started from scratch, never sharing state with the
  live one) replays that turn's events and must issue exactly the recorded commands, stopping
  where the live run stopped: non-determinism shows at the turn that introduced it;
- whenever a generation ends (completes, fails, continues as new) and at the end of every drive
  call, the whole history is replayed from scratch in a fresh execution, as after a restart.

``mode="full"`` replays from scratch after every turn instead, for small histories or suspicion.
"""

from __future__ import annotations

import random
from typing import Any

from orchestrate import NonDeterminismError, Registry, callguard
from orchestrate import history as h
from orchestrate.replay import Execution

__all__ = [
    "HINT",
    "RESEEDED",
    "ReplayChecker",
    "Reseeded",
    "check_execution",
    "check_history",
    "replay_events",
]

HINT = (
    "Replaying the same history from scratch (as a worker does after a restart) gave different "
    "commands than the run that recorded it, so the orchestration depends on something that is "
    "not in its history: module or global state, the wall clock, random numbers, the "
    "environment, I/O. Take such values from ctx (ctx.now(), ctx.uuid(), ctx.random(), "
    "ctx.side_effect(fn)) or move the work into an activity."
)


def replay_events(
    registry: Registry,
    name: str,
    instance_id: str,
    events: list[h.Event],
    *,
    strict: bool = True,
    guard_calls: bool = True,
) -> Execution:
    """A fresh execution of orchestration `name` that has replayed `events` (a cold start),
    with the call guard on unless `guard_calls` is False (see `orchestrate.callguard`)."""
    exe = Execution(
        registry, registry.get_orchestration(name), instance_id, strict=strict,
        guard_calls=guard_calls,
    )
    exe.begin_turn()
    exe.replay(events)
    return exe


def check_execution(
    registry: Registry, exe: Execution, *, guard_calls: bool = True
) -> NonDeterminismError | None:
    """Replay `exe`'s history in a fresh strict execution; the divergence, or None if equal.

    Equal means: every recorded command is issued again in order with the same inputs, and the
    fresh run issues nothing beyond the history (it stops where the original stopped).
    """
    return check_history(
        registry, exe.odef.name, exe.instance_id, list(exe.history), guard_calls=guard_calls
    )


def check_history(
    registry: Registry,
    name: str,
    instance_id: str,
    events: list[h.Event],
    *,
    guard_calls: bool = True,
) -> NonDeterminismError | None:
    """Replay a recorded history in a fresh strict execution; the divergence, or None."""
    replayed = replay_events(registry, name, instance_id, events, guard_calls=guard_calls)
    return _difference(replayed)


def _difference(replayed: Execution) -> NonDeterminismError | None:
    if replayed.nondeterminism is not None:
        return replayed.nondeterminism
    if replayed.new_events:
        extra = replayed.new_events[0]
        return NonDeterminismError(
            f"{replayed.odef.name} ({replayed.instance_id}): replaying the "
            f"{len(replayed.history) - len(replayed.new_events)} recorded events issued "
            f"{h.describe(extra)} at the end, which the recording run had not issued at that "
            "point (it was waiting)"
        )
    return None


class ReplayChecker:
    """Replay-checks every turn of the instances of one env (see the module docstring)."""

    def __init__(
        self, registry: Registry, *, full: bool = False, guard_calls: bool = True
    ) -> None:
        self.registry = registry
        self.full = full
        self.guard_calls = guard_calls
        self._shadows: dict[str, Execution] = {}

    def after_turn(self, exe: Execution) -> NonDeterminismError | None:
        """Check the turn `exe` just ran (its events are `exe.new_events`)."""
        key = exe.instance_id
        if self.full or exe.done:
            self._shadows.pop(key, None)
            return check_execution(self.registry, exe, guard_calls=self.guard_calls)
        shadow = self._shadows.get(key)
        before = len(exe.history) - len(exe.new_events)
        if shadow is None or shadow.generation != exe.generation or shadow.history_len != before:
            shadow = replay_events(
                self.registry, exe.odef.name, key, list(exe.history), guard_calls=self.guard_calls
            )
        else:
            shadow.begin_turn()
            shadow.replay(list(exe.new_events))
        problem = _difference(shadow)
        if problem is None:
            self._shadows[key] = shadow
        else:
            self._shadows.pop(key, None)
        return problem

    def from_scratch(self, exe: Execution) -> NonDeterminismError | None:
        """The full check: replay `exe`'s whole history in a fresh execution."""
        return check_execution(self.registry, exe, guard_calls=self.guard_calls)

    def forget(self, instance_id: str) -> None:
        self._shadows.pop(instance_id, None)


class Reseeded:
    """While entered, the `random` module's functions draw from a generator seeded apart from
    the live one (as in a fresh worker process); the live generator is left untouched. Cheaper
    than saving and restoring the live state on every check."""

    _NAMES = ("betavariate", "choice", "choices", "expovariate", "gauss", "getrandbits",
              "lognormvariate", "normalvariate", "paretovariate", "randbytes", "randint",
              "random", "randrange", "sample", "shuffle", "triangular", "uniform",
              "vonmisesvariate", "weibullvariate")

    def __init__(self, seed: int) -> None:
        self._fresh = random.Random(seed)
        self._start = self._fresh.getstate()
        self._methods = [getattr(self._fresh, name) for name in self._NAMES]
        self._kept: list[object] = []
        # With the call guard installed, the module's functions are its wrappers: redirect
        # what they call (cheap) instead of replacing them, so replays stay guarded.
        self._holders: list[list[Any]] | None = None
        self._canary: object = None

    def __enter__(self) -> None:
        self._fresh.setstate(self._start)  # every replay draws the same fresh sequence
        holders = self._holders
        if holders is None or random.random is not self._canary:
            holders = self._holders = callguard.holders(random, self._NAMES)
            self._canary = random.random
        if holders is not None:
            self._kept = [holder[0] for holder in holders]
            for holder, method in zip(holders, self._methods, strict=True):
                holder[0] = method
            return
        self._kept = [getattr(random, name) for name in self._NAMES]
        for name, method in zip(self._NAMES, self._methods, strict=True):
            setattr(random, name, method)

    def __exit__(self, *exc: object) -> None:
        holders = self._holders
        if holders is not None and random.random is self._canary:
            for holder, kept in zip(holders, self._kept, strict=True):
                holder[0] = kept
            return
        for name, kept in zip(self._NAMES, self._kept, strict=True):
            setattr(random, name, kept)


RESEEDED = Reseeded(0x5EED)
"""The reseeded `random` every replay check runs under (one instance, entered again and again)."""
