"""Rolling deploys: a worker that does not know an orchestration or activity leaves the work for a
worker that does, and fails it only after a grace period with no capable worker.

While old and new workers share a store, either may fetch work only the other can run:

- an **orchestration** turn it cannot run is not applied: the instance keeps its messages, shows
  ``UnknownOrchestration`` as its error (`list` shows it stuck) and is held back for `retry`, so
  another worker can take it. Once its oldest message has waited `grace` (no capable worker took
  it meanwhile), the next worker without the code fails it as before. The first turn a capable
  worker runs clears the error.
- an **activity** item it cannot run is parked: kept leased for `retry` (this worker does not take
  it again meanwhile) and then given back for any worker. Once this worker has seen the item
  unknown for `grace`, it runs it as before: `ActivityFailed` with ``UnknownActivity``.

Each unknown name is logged once per worker.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime, timedelta

from . import history as h
from .registry import Registry
from .state import ActivityWork, InstanceState, Message, TurnCommit

__all__ = ["RollingDeploys"]

_LOG = logging.getLogger("orchestrate.worker")
_Key = tuple[str, int, int, int]  # instance, generation, task id, attempt


class RollingDeploys:
    """One worker's handling of work its registry does not know (see the module docstring)."""

    def __init__(self, registry: Registry, grace: timedelta, retry: timedelta) -> None:
        if grace < timedelta(0) or retry <= timedelta(0):
            raise ValueError(
                f"unknown_grace={grace!r}, unknown_retry={retry!r}: give a grace >= 0 and a "
                "retry > 0 (timedelta)"
            )
        self.registry = registry
        self.grace = grace
        self.retry = retry
        self._logged: set[tuple[str, str]] = set()
        self._seen: dict[_Key, datetime] = {}  # activity item -> when first seen unknown here
        self._parked: list[tuple[datetime, ActivityWork]] = []  # (give back at, item)
        self._lock = threading.Lock()

    # --- orchestrations ------------------------------------------------------------------------

    def hold_turn(
        self,
        state: InstanceState,
        token: str,
        messages: list[Message],
        exc: Exception,
        now: datetime,
    ) -> TurnCommit | None:
        """The turn that leaves instance `state` (whose orchestration this worker lacks) for
        another worker, or None once its oldest message has waited `grace`: then fail it."""
        waiting_since = min((m.event.at for m in messages), default=now)
        fails_at = waiting_since + self.grace
        if now >= fails_at:
            return None
        self._log_once("orchestration", state.name)
        held = dataclasses.replace(
            state,
            error=h.ErrorInfo(
                "UnknownOrchestration",
                f"{exc}. A worker without this orchestration left the turn for one that has it "
                f"(a rolling deploy?); if none takes it by {fails_at.isoformat()}, the instance "
                "fails. Deploy the code to a worker, or raise Worker(unknown_grace=...).",
            ),
            updated_at=now,
        )
        return TurnCommit(held, token, [], [], hold_until=now + self.retry)

    # --- activities ----------------------------------------------------------------------------

    def park(self, work: ActivityWork, now: datetime) -> bool:
        """True if `work` names an activity this worker lacks and is parked for another worker;
        False to run it here (known, or unknown for `grace` already: it fails as unknown)."""
        if work.name in self.registry.activities:
            return False
        key = (work.instance_id, work.generation, work.task_id, work.attempt)
        with self._lock:
            first = self._seen.setdefault(key, now)
            if now - first >= self.grace:
                del self._seen[key]
                return False
            self._parked.append((now + self.retry, work))
        self._log_once("activity", work.name)
        return True

    def due(self, now: datetime | None) -> list[ActivityWork]:
        """The parked items to give back at `now` (all of them with None), forgetting items
        not seen for twice the grace (another worker took them)."""
        with self._lock:
            if now is None:
                out, self._parked = [w for _, w in self._parked], []
                return out
            out = [w for at, w in self._parked if at <= now]
            self._parked = [(at, w) for at, w in self._parked if at > now]
            old = now - 2 * self.grace - self.retry
            self._seen = {k: at for k, at in self._seen.items() if at > old}
            return out

    def _log_once(self, kind: str, name: str) -> None:
        with self._lock:
            if (kind, name) in self._logged:
                return
            self._logged.add((kind, name))
        _LOG.warning(
            "this worker does not know the %s %r: leaving its work to a worker that does "
            "(failing it after %s with none); logged once",
            kind,
            name,
            self.grace,
        )
