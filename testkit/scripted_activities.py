"""The env's activity side: what each activity call a `TestEnv` leases gets as its answer.

The env leases activity work from the store itself rather than through the worker's activity
loop, because a scripted outcome may hold a call (`hang`, `delay`) and the fuzzer
(`testkit.control.Controller`) picks which held call finishes next. `ScriptedActivities` keeps
the scripts, the log of every call, and the attempts held back; it answers a call from its
script, holds it, or runs the real activity, and hands the results to the worker's own commit
path (`Worker.complete_with_follow_ups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orchestrate.history import iso_time
from orchestrate.state import ActivityWork, Message

from .errors import UnscriptedActivity
from .outcomes import Delay, Entry, Fail, Hang, Ok, Outcome, Script, resolve, to_event

if TYPE_CHECKING:
    from datetime import datetime

    from orchestrate import Store, Worker

    from .clock import FakeClock

__all__ = ["LEASE", "Held", "ScriptedActivities"]

# Activity leases far beyond any test's horizon: a held (hung) call must not be redelivered.
LEASE = 100 * 365 * 24 * 3600.0


@dataclass
class Held:
    """An activity attempt the env holds back: hung (`due` None) or finishing at `due`."""

    work: ActivityWork
    due: datetime | None
    then: Entry | None
    manual: bool = False  # held for the fuzzer to complete (`Controller.finish`)


class ScriptedActivities:
    """Scripts, the call log and the held attempts of one env, and the step that answers calls.

    `strict` makes a call without a script an error; `manual` (set by a `Controller`) holds
    every attempt for the fuzzer to finish.
    """

    def __init__(self, store: Store, worker: Worker, clock: FakeClock, *, strict: bool) -> None:
        self.store = store
        self.worker = worker
        self.clock = clock
        self.strict = strict
        self.manual = False
        self.scripts: dict[str, Script] = {}
        self.calls: list[tuple[str, str, Any]] = []  # (instance id, activity, input)
        self.held: dict[int, Held] = {}  # store work id -> held attempt

    def script(
        self, name: str, outcomes: Entry | Sequence[Entry], exhaust: Literal["repeat", "error"]
    ) -> None:
        """Script activity `name` (replacing its script, and restarting its count)."""
        self.scripts[name] = Script(name, outcomes, exhaust)

    def run(self) -> int:
        """Lease every activity call due now and answer, hold or run each; how many were leased."""
        now = self.clock.now()
        works = self.store.fetch_activity_work(now, limit=10_000, lease=LEASE)
        results: list[tuple[ActivityWork, Message]] = []
        for work in works:
            held = self.held.get(work.id)
            if held is not None:  # a lease ran out (a very long advance): keep holding it
                held.work = work
                continue
            self.calls.append((work.instance_id, work.name, work.input))
            if self.manual:
                self.held[work.id] = Held(work, None, None, manual=True)
                continue
            outcome = self._outcome(work, self._entry_for(work))
            if isinstance(outcome, Hang):
                self.held[work.id] = Held(work, None, None)
            elif isinstance(outcome, Delay):
                self.held[work.id] = Held(work, now + outcome.after, outcome.then)
            else:
                results.append((work, self.result(work, outcome)))
        if results:
            self.worker.complete_with_follow_ups(results)
        return len(works)

    def _entry_for(self, work: ActivityWork) -> Entry | None:
        script = self.scripts.get(work.name)
        if script is not None:
            return script.next()
        if self.strict:
            scripted = ", ".join(sorted(self.scripts)) or "none"
            raise UnscriptedActivity(
                f"activity {work.name!r} was called by instance {work.instance_id!r}, but "
                f"TestEnv(strict=True) has no script for it (scripted: {scripted}); add "
                f"env.script({work.name!r}, ok(...)) or drop strict=True to run its real code"
            )
        return None

    def _outcome(self, work: ActivityWork, entry: Entry | None) -> Outcome | None:
        """The scripted outcome (None: run the real activity)."""
        if entry is None or isinstance(entry, Outcome):
            return entry
        return resolve(entry, work.input)

    def result(self, work: ActivityWork, outcome: Outcome | None) -> Message:
        """The result message of one attempt: the scripted one, or the real activity's."""
        if isinstance(outcome, (Ok, Fail)):
            event = to_event(outcome, work.task_id, self.clock.now())
        else:
            event = self.worker.run_activity(work)
        return Message(work.instance_id, event, work.generation)

    def release_delayed(self) -> int:
        """Finish the delayed attempts due by now, in due order; how many finished."""
        if not self.held:
            return 0
        now = self.clock.now()
        due = [
            (item_id, held)
            for item_id, held in self.held.items()
            if held.due is not None and held.due <= now
        ]
        results: list[tuple[ActivityWork, Message]] = []
        for item_id, held in sorted(due, key=lambda pair: (pair[1].due or now, pair[0])):
            del self.held[item_id]
            outcome = self._outcome(held.work, held.then)
            if isinstance(outcome, Hang):
                self.held[item_id] = Held(held.work, None, None)
            elif isinstance(outcome, Delay):
                self.held[item_id] = Held(held.work, now + outcome.after, outcome.then)
            else:
                results.append((held.work, self.result(held.work, outcome)))
        if results:
            self.worker.complete_with_follow_ups(results)
        return len(results)

    def held_note(self, instance_id: str, task_id: int) -> str:
        """How a held attempt of the instance's task ends, for `waiting_for` ("" if not held)."""
        for held in self.held.values():
            if held.work.instance_id == instance_id and held.work.task_id == task_id:
                if held.manual:
                    return " (held)"
                return f" (finishes at {iso_time(held.due)})" if held.due else " (scripted to hang)"
        return ""
