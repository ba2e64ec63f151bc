"""`TestEnv`: run orchestrations in a test, on virtual time, with every turn replay-checked.

The runtime's own `MemoryStore` (or a real one: ``TestEnv(reg, store="sqlite:///t.db")``) and
`Worker` do the work (so tests exercise the real turn and commit path), driven synchronously on
the test's thread: no threads, no sleeps, no ports. A drive
call (`run`, `raise_event`, `terminate`) works until its instance finishes or waits on something
only the test can give; while only timers (or `delay`-scripted activities) are outstanding it
jumps the `FakeClock` straight to the next one, so a 30-day workflow takes milliseconds. Only a
timer or activity attempt the instance still waits on counts as outstanding: the timeout of an
activity that already finished, or the backoff of a cancelled call, never moves the clock (the
runtime drops cancelled timers; one that is merely ignored is still delivered, in due order, when
time passes it for another reason).

With `freeze_wall_clock` on (the default) the wall clock reads virtual time (one freezegun freeze,
started by the first drive call and moved since, see `testkit.wall_clock`), so orchestration and
activity code that reads it sees virtual time, and the replay check shifts it. The freeze is held
between drive calls until `close()` (the pytest plugin releases it after every test).

Activities are leased from the store by the env itself rather than the worker's activity loop,
because scripted outcomes may hold a call (`hang`, `delay`) and the fuzzer picks which call
finishes next (`testkit.scripted_activities`). Step-by-step control (what is pending, finish this call, fire that timer, crash
around the next commit) is `testkit.control.Controller`, the fuzzer's interface to the env.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal

from orchestrate import (
    Client,
    InstanceState,
    NonDeterminismError,
    NonDeterministicCallError,
    Registry,
    Status,
    Store,
    Worker,
    open_store,
)
from orchestrate import history as h
from orchestrate.history import iso_time
from orchestrate.replay import Execution
from orchestrate.state import TurnCommit

from . import wall_clock
from .clock import DEFAULT_START, FakeClock
from .drive_scope import DriveScope
from .errors import RunawayOrchestration
from .faults import CrashingStore
from .outcomes import Entry
from .pending import Pending, pending_of
from .replay_check import HINT, RESEEDED, ReplayChecker
from .run import Run, describe_waits
from .scripted_activities import ScriptedActivities
from .stubs import ChildStubs, unknown_script_target

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["TestEnv"]

# Wall-clock offset during the replay check, so code that reads the wall clock sees another time.
_REPLAY_SHIFT = timedelta(days=1, seconds=1, microseconds=1)


class TestEnv:
    """An in-memory runtime on a `FakeClock`, for tests; see the module docstring and docs/design.md.

    Options: `start` (or a `clock`) sets virtual time (default 2024-01-01T00:00:00Z); `strict`
    makes an activity call without a script an error; `replay_check` (on by default) replays
    every turn in a second execution and the whole history from scratch at the end of each
    generation and drive call, failing on any difference (``"full"``: from scratch after every
    turn, O(n^2); ``False``: off; see `testkit.replay_check`); `evict_every_turn`
    drops the cached execution after each turn so every turn resumes by replay;
    `freeze_wall_clock` (on by default) makes orchestration and activity code see virtual time
    through freezegun from the first drive call until `close()`, so the replay check can shift
    the wall clock and catch orchestrations that read it; with ``freeze_wall_clock=False`` both
    see the real time and wall-clock reads in orchestrations are not caught (other differences
    still are);
    `max_turns` bounds one drive call, so an orchestration that never blocks fails instead of
    hanging the test; `guard_calls` (on by default) makes calls that break replay (the wall
    clock, `random`, `uuid4`, `time.sleep`, threads, files, sockets) in orchestration code
    raise `NonDeterministicCallError` at the call, in the live turn and in every replay (see
    `orchestrate.callguard`; activities are never affected); `store` (default: a fresh
    in-memory store) runs the test on another store, e.g. ``store="sqlite:///test.db"``, still
    on virtual time.
    """

    __test__ = False  # a pytest-collected name, but not a test class

    def __init__(
        self,
        registry: Registry,
        *,
        start: datetime | str | None = None,
        clock: FakeClock | None = None,
        strict: bool = False,
        replay_check: bool | Literal["full"] = True,
        evict_every_turn: bool = False,
        freeze_wall_clock: bool = True,
        max_turns: int = 100_000,
        guard_calls: bool = True,
        store: str | Store | None = None,
    ) -> None:
        if clock is not None and start is not None:
            raise ValueError("pass either start=... or clock=... to TestEnv, not both")
        self.registry = registry
        # the env's own copy: stubbed children run stand-ins under their names (testkit.stubs)
        self._stubs = ChildStubs(registry.copy())
        running = self._stubs.registry
        self.clock = clock if clock is not None else FakeClock(start or DEFAULT_START)
        if replay_check not in (True, False, "full"):
            raise ValueError(
                f"replay_check={replay_check!r} is not valid; use True, False or 'full'"
            )
        self.replay_check = replay_check
        self.guard_calls = guard_calls
        if guard_calls:  # the worker guards the registry's modules (`callguard`)
            wall_clock.guard_fakes()
        self._checker = ReplayChecker(
            running, full=replay_check == "full", guard_calls=guard_calls
        )
        self._touched: set[str] = set()  # instances with turns not yet checked from scratch
        self.evict_every_turn = evict_every_turn
        self.freeze_wall_clock = freeze_wall_clock
        self._shifted = self.clock.wall_offset(_REPLAY_SHIFT)  # entered by every replay check
        self.max_turns = max_turns
        # the memory store, or a real one (a URL or a Store) for tests that cross it
        self.store = CrashingStore(None if store is None else open_store(store))
        self.client = Client(self.store, registry=running, clock=self.clock)
        self.worker = Worker(
            running, self.store, clock=self.clock, strict=True, batch_size=256,
            guard_calls=guard_calls, log_nondeterminism=False,  # the env raises it instead
        )
        self.worker.on_commit = self._on_commit
        self.nondeterminism: list[NonDeterminismError] = []  # every divergence found, in order
        # scripts, the call log and held attempts (testkit.scripted_activities)
        self._activities = ScriptedActivities(self.store, self.worker, self.clock, strict=strict)
        self._child_calls: list[tuple[str, str, Any]] = []  # (parent id, orchestration, input)
        # held timer messages: (due, seq, instance id, timer task id, generation)
        self._timers: list[tuple[datetime, int, str, int | None, int | None]] = []
        self._seq = itertools.count()
        self._executions: dict[str, Execution] = {}  # latest execution of running instances
        self._children: dict[str, list[str]] = {}
        self._failures: list[tuple[str, NonDeterminismError, bool]] = []
        self._ids = itertools.count(1)
        self._turns = 0
        self._drive = DriveScope(self, self._start_drive, self._check_from_scratch)
        self._crash_after = False
        # Off under a `Controller`: every step is a drive call, which replays from scratch
        # anyway, so the per-turn shadow check would only repeat that work.
        self._check_each_turn = True

    @property
    def strict(self) -> bool:
        """Whether an activity call without a script is an error (`UnscriptedActivity`)."""
        return self._activities.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._activities.strict = value

    def __repr__(self) -> str:
        return f"<TestEnv at {iso_time(self.clock.now())}, {len(self.instances())} instance(s)>"

    def __enter__(self) -> TestEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the wall clock back: release the freeze the drive calls hold (the real clock is
        back unless a `FakeClock.frozen()` scope is active). A later drive call freezes again.
        The pytest plugin does this after every test; elsewhere use ``with TestEnv(reg) as env``.
        """
        wall_clock.release()

    # --- scripting ---------------------------------------------------------------------------

    def script(
        self,
        activity: Callable[..., Any] | str,
        outcomes: Entry | Sequence[Entry],
        *,
        exhaust: Literal["repeat", "error"] = "repeat",
    ) -> None:
        """Script what `activity` answers: one outcome, or a list consumed in call order.

        The last entry repeats once the list is used up, unless ``exhaust="error"``. Scripting
        an activity again replaces its script (and restarts the count). A sub-orchestration
        can be scripted too (``ok``, ``fail``, ``hang``, ``delay``): its instances are still
        started by their parents, but answer with the script instead of running their code
        (see `testkit.stubs`); `run.calls(child)` lists their inputs.
        """
        key = self.registry.name_of(activity)
        if key in self.registry.orchestrations:
            self._stubs.script(self.registry.get_orchestration(activity).name, outcomes, exhaust)
        elif key in self.registry.activities:
            self._activities.script(self.registry.get_activity(activity).name, outcomes, exhaust)
        else:
            raise unknown_script_target(self.registry, key)

    # --- driving -----------------------------------------------------------------------------

    def run(
        self,
        orchestration: Callable[..., Any] | str,
        input: Any = None,
        *,
        instance_id: str | None = None,
        if_running: str = "raise",
        event: tuple[str, Any] | None = None,
    ) -> Run:
        """Start an instance and drive it until it finishes or waits for the test.

        The id defaults to ``<orchestration>-<n>``, stable from run to run (``ctx.uuid()`` and
        ``ctx.random()`` are seeded from it). Returns a live `Run` handle. `if_running` and
        `event` are `Client.start`'s (signal-with-start).
        """
        name = self.registry.get_orchestration(orchestration).name
        self._stubs.refuse_top_level(name)
        key = instance_id or self._new_id(name)
        self.client.start(name, input, instance_id=key, if_running=if_running, event=event)
        self._settle([key])
        return Run(self, key)

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Deliver an external event, then drive the instance as `run` does."""
        self.client.raise_event(instance_id, name, data)
        self._settle([instance_id])

    def terminate(self, instance_id: str, reason: str = "") -> None:
        """Terminate an instance at its next turn, then drive it as `run` does."""
        self.client.terminate(instance_id, reason)
        self._settle([instance_id])

    def advance(self, delta: timedelta | float) -> None:
        """Move virtual time forward by exactly `delta`, firing everything due on the way.

        Timers and delayed activities complete in due order, each at its own due time, and the
        turns they cause run before time moves on. Unlike `run`, it never skips past `delta`.
        """
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError(f"env.advance({step}) is negative; virtual time only moves forward")
        target = self.clock.now() + step
        with self._driving():
            self._drain()
            while (due := self._next_due(None)) is not None and due <= target:
                self._move_to(due)
                self._drain()
            self._move_to(target)
            self._drain()

    # --- reading -----------------------------------------------------------------------------

    def state(self, instance_id: str) -> InstanceState:
        """The instance's state (`InstanceNotFound` for an unknown id)."""
        return self.client.state(instance_id)

    def history(self, instance_id: str) -> list[h.Event]:
        """The current generation's history of an instance."""
        return self.store.get_history(instance_id)

    def instances(self) -> list[InstanceState]:
        """Every instance in the env (children included), oldest first."""
        return self.store.list_instances()

    def waiting_for(self, instance_id: str) -> list[str]:
        """What the instance waits on, readable (see `Run.waiting_for`)."""
        if self.state(instance_id).finished:
            return []
        exe = self._executions.get(instance_id)
        if exe is None:
            return []
        return describe_waits(exe, lambda task_id: self._activities.held_note(instance_id, task_id))

    def pending(self, instance_id: str) -> Pending:
        """What the instance waits on, as data (see `Run.pending`)."""
        if self.state(instance_id).finished:
            return Pending()
        exe = self._executions.get(instance_id)
        if exe is None:
            return Pending()
        return pending_of(exe, self._status_of)

    def _status_of(self, instance_id: str) -> Status | None:
        state = self.store.get_instance(instance_id)
        return None if state is None else state.status

    def calls(self, instance_id: str, activity: Callable[..., Any] | str) -> list[Any]:
        """Inputs of every execution of `activity` (or start of a sub-orchestration) by the
        instance, in call order."""
        name = self.registry.name_of(activity)
        calls = (
            self._child_calls if name in self.registry.orchestrations else self._activities.calls
        )
        return [value for key, n, value in calls if key == instance_id and n == name]

    def replay(
        self, history: list[h.Event] | str | bytes | PathLike[str], *, strict: bool = True
    ) -> Run:
        """Replay a recorded history (events, JSON text, or a JSON file) against today's code.

        Raises `NonDeterminismError` (with the timeline) on divergence; returns the replayed run
        otherwise. `strict` also compares command inputs, as the replay check does.
        """
        from .replay_files import replay_history

        return replay_history(self.registry, history, strict=strict)

    def timeline_html(
        self,
        path: str | PathLike[str] | None = None,
        *,
        instance_ids: Iterable[str] | None = None,
        title: str = "orchestrate timeline",
    ) -> str:
        """Instances' timelines (all, or `instance_ids`) as one self-contained HTML page, the
        `orchestrate ui` view; also written to `path` when given."""
        from .html_report import timeline_html

        keys = [s.instance_id for s in self.instances()] if instance_ids is None else instance_ids
        pairs = [(self.state(key), self.history(key)) for key in keys]
        return timeline_html(pairs, self.clock.now(), path, title)

    def timelines(self, limit: int | None = None) -> str:
        """Every instance's timeline, for failure reports."""
        return "\n\n".join(
            Run(self, state.instance_id).timeline(limit) for state in self.instances()
        )

    # --- the drive loop ----------------------------------------------------------------------

    def _new_id(self, name: str) -> str:
        while True:
            key = f"{name}-{next(self._ids)}"
            if self.store.get_instance(key) is None:
                return key

    def _driving(self) -> DriveScope:
        """One drive call: counts turns, and freezes the wall clock for all of it (if asked).

        Entered again inside a drive call (`_complete` from a drive), it does nothing more.
        """
        return self._drive

    def _start_drive(self) -> None:
        self._turns = 0

    def _check_from_scratch(self) -> None:
        """End of a drive call: replay each running instance touched by it from scratch."""
        if not self._touched and not self._failures:
            return
        touched, self._touched = self._touched, set()
        if not self.replay_check:
            return
        for key in sorted(touched):
            exe = self._executions.get(key)
            if exe is not None:
                problem = self._replay_check(self._checker.from_scratch, exe)
                if problem is not None:
                    self._failures.append((key, problem, True))
        if self._failures:
            self._raise_failure()

    def _settle(self, roots: list[str]) -> None:
        with self._driving():
            while True:
                self._drain()
                if all(self.state(key).finished for key in roots):
                    return
                scope = self._scope(roots)
                if any(self._awaits_event(key) for key in scope):
                    return  # only the test can answer an event wait (or advance the clock)
                due = self._next_due(scope)
                if due is None or self._next_due(scope, awaited=True) is None:
                    return  # nothing it waits on happens by itself: hung, or waiting on a child
                # Step to the earliest due item even if nobody waits on it (a finished
                # activity's timeout), so that it is delivered at its own time, in order.
                self._move_to(due)

    def _step(self) -> bool:
        """Run what is workable now (turns, then activities); True if anything ran."""
        released = self._activities.release_delayed()
        turns = self.worker.run_turns()
        if self._failures:
            self._raise_failure()
        if self._turns > self.max_turns:
            raise RunawayOrchestration(
                f"one drive call ran {self._turns} turns without its instance finishing or "
                "blocking; an orchestration that loops (e.g. continue_as_new without a timer) "
                "never settles. Add a timer to the loop, or raise TestEnv(max_turns=...)"
            )
        activities = self._activities.run()
        return bool(released or turns or activities)

    def _drain(self) -> None:
        while self._step():
            pass

    def _scope(self, roots: Iterable[str]) -> set[str]:
        scope: set[str] = set()
        todo = list(roots)
        while todo:
            key = todo.pop()
            if key not in scope:
                scope.add(key)
                todo.extend(self._children.get(key, ()))
        return scope

    def _awaits_event(self, instance_id: str) -> bool:
        exe = self._executions.get(instance_id)
        return exe is not None and bool(exe.awaited_events())

    def _next_due(self, scope: set[str] | None, *, awaited: bool = False) -> datetime | None:
        """The earliest future timer or delayed activity (of `scope`, or of anyone); with
        `awaited`, only one whose instance still waits on it (see `_still_awaited`)."""
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)  # released to the instance by the store already
        dues = [
            due
            for due, _, key, task_id, generation in self._timers
            if (scope is None or key in scope)
            and (not awaited or self._still_awaited(key, task_id, generation))
        ]
        dues += [
            held.due
            for held in self._activities.held.values()
            if held.due is not None
            and (scope is None or held.work.instance_id in scope)
            and (
                not awaited
                or self._still_awaited(
                    held.work.instance_id, held.work.task_id, held.work.generation
                )
            )
        ]
        return min(dues, default=None)

    def _still_awaited(self, instance_id: str, task_id: int | None, generation: int | None) -> bool:
        """Whether the instance still waits on the timer or activity attempt `task_id`
        (`Execution.is_awaited`): not when its generation or instance ended, the task finished
        or was cancelled, or it is an activity's timeout or backoff, or an attempt, that no
        longer counts. Without a cached execution: while the instance runs."""
        if task_id is None:
            return True
        exe = self._executions.get(instance_id)
        if exe is None:
            state = self.store.get_instance(instance_id)
            return state is not None and not state.finished
        if generation is not None and generation != exe.generation:
            return False
        return exe.is_awaited(task_id)

    def _move_to(self, moment: datetime) -> None:
        if moment > self.clock.now():
            self.clock.move_to(moment)

    # --- turns -------------------------------------------------------------------------------

    def _on_commit(self, commit: TurnCommit, exe: Execution | None) -> None:
        """Worker seam, after each applied turn: track timers and children, replay-check."""
        key = commit.instance.instance_id
        self._turns += 1
        for message in commit.messages:
            if message.visible_at is not None:
                task_id = getattr(message.event, "task_id", None)
                heapq.heappush(
                    self._timers,
                    (message.visible_at, next(self._seq), key, task_id, message.generation),
                )
        for child in commit.children:
            self._children.setdefault(key, []).append(child.instance_id)
            self._child_calls.append((key, child.name, child.input))  # run.calls(child)
        if exe is None or exe.done or commit.instance.finished:
            self._executions.pop(key, None)
            self._touched.discard(key)
            self._checker.forget(key)
        else:
            self._executions[key] = exe
            self._touched.add(key)
        if exe is not None:
            if exe.nondeterminism is not None:
                self._failures.append((key, exe.nondeterminism, False))
            elif self.replay_check and (self._check_each_turn or exe.done):
                problem = self._replay_check(self._checker.after_turn, exe)
                if problem is not None:
                    self._failures.append((key, problem, True))
        if self.evict_every_turn:
            self.worker.evict(key)
        if self._crash_after:
            self._crash_after = False
            self.worker.evict()

    def _replay_check(
        self, check: Callable[[Execution], NonDeterminismError | None], exe: Execution
    ) -> NonDeterminismError | None:
        """Run a check in a perturbed world: the wall clock (if frozen, and with it the
        monotonic clocks freezegun fakes) moved away, and the global `random` reseeded, so code
        that reads either takes other values on replay. The live run's `random` state is kept."""
        with self._shifted, RESEEDED:
            return check(exe)

    def _raise_failure(self) -> None:
        key, problem, by_check = self._failures[0]
        self._failures.clear()
        self.nondeterminism.append(problem)
        timeline = Run(self, key).timeline(limit=60)
        if isinstance(problem, NonDeterministicCallError):  # stopped at the call: say only that
            raise NonDeterministicCallError(f"{problem}\n\n{timeline}")
        if by_check:
            why = HINT
        else:
            why = (
                "The instance resumed by replaying its history (the execution cache was evicted) "
                "and the code took a different path than the run that recorded it."
            )
        raise NonDeterminismError(f"{problem}\n\n{why}\n\n{timeline}")
