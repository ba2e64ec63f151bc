"""The replay executor: drives an orchestration coroutine against its history.

The executor owns the coroutine (no asyncio). It feeds result events (completions, fired timers,
raised events) to the tasks they belong to, in history order, and after each one resumes the
coroutine until it waits on an unfinished task. Every command the code issues is matched against
the next recorded command (`orchestrate.matching`; `orchestrate.divergence` words a mismatch);
past the end of the history, commands are new and become part of the turn. The same
`Execution` object stays alive between turns (the worker caches it), so a turn costs only its
new events; a cold start replays the whole history once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import traceback
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from . import history as h
from .callguard import FLAG, Guard, unwatch, watch
from .context import OrchestrationContext
from .divergence import diverged, not_a_task, past_the_end, unmatched, used_asyncio, user_traceback
from .errors import NonDeterminismError, NotATaskError, PayloadTooLarge, SerializationError
from .matching import matches, payload_of
from .payload import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    check_payload_size,
    cut,
    from_json_value,
    safe_str,
    to_json_value,
)
from .registry import OrchestrationDef, Registry
from .task import ContinueAsNewSignal, Task, Wait, _Order
from .tasks import Awaiting, EventTask, SubOrchestrationTask

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["ContinueAsNewSignal", "Execution", "Wait"]


class Execution:
    """One generation of one instance: its coroutine, its tasks and its position in the history.

    `strict` also compares command payloads (inputs, timer due times, statuses), as the testkit
    does: production replay only requires kinds and names to match. It is the `Host` the tasks
    of `orchestrate.tasks` run on; `is_awaited` and `waits` answer the testkit's questions.
    """

    def __init__(
        self,
        registry: Registry,
        odef: OrchestrationDef,
        instance_id: str,
        *,
        strict: bool = False,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        guard_calls: bool = False,
    ) -> None:
        self.registry = registry
        # with `guard_calls`, calls that break replay raise at the call (see `callguard`)
        self.guard = Guard(odef.name, instance_id) if guard_calls else None
        self.max_payload_bytes = max_payload_bytes
        self.odef = odef
        self.instance_id = instance_id
        self.strict = strict
        self.generation = 0
        self.order = _Order()
        self.history: list[h.Event] = []
        self.new_events: list[h.Event] = []
        self.cancelled_timers: list[int] = []  # task ids of timers cancelled in this turn
        self.cancelled_children: list[str] = []  # child ids of sub-orchestrations cancelled
        self.withdrawn: list[int] = []  # task ids of activity attempts cancelled in this turn
        self._time: datetime | None = None  # the time of the event being applied
        self.is_replaying = False
        self.result: h.Event | None = None  # the terminal event once the generation ended
        self.terminated = False
        self.nondeterminism: NonDeterminismError | None = None
        # raised events (and a terminate) for the next generation
        self.carry_over: list[h.Event] = []
        self.expected: dict[int, Awaiting] = {}  # task id -> the task its result goes to
        self._recorded: list[tuple[int, h.Event]] = []  # (history index, command) to match
        self._cursor = 0
        self._next_id = 0
        self._waits: dict[str, deque[EventTask]] = {}
        self._buffer: dict[str, deque[Any]] = {}
        self._coro: Coroutine[Any, Any, Any] | None = None
        self._waiting: Task[Any] | None = None
        self._throw: BaseException | None = None
        self.ctx: OrchestrationContext | None = None

    # --- public driving API ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.result is not None or self.terminated

    @property
    def history_len(self) -> int:
        return len(self.history)

    def begin_turn(self) -> None:
        """Start collecting the events of a new turn in `new_events`."""
        self.new_events = []
        self.cancelled_timers = []
        self.cancelled_children = []
        self.withdrawn = []

    def timer_cancelled(self, task_id: int) -> None:
        """A timer was cancelled live: the turn tells the store its TimerFired is not needed."""
        if not self.is_replaying:
            self.cancelled_timers.append(task_id)

    def child_cancelled(self, instance_id: str) -> None:
        """A sub-orchestration task was cancelled live: the turn terminates the child."""
        if not self.is_replaying:
            self.cancelled_children.append(instance_id)

    @property
    def open_children(self) -> list[tuple[str, str]]:
        """(child id, on_parent_close policy) of the sub-orchestrations still running: started,
        no result applied, not cancelled. The turn that ends the generation applies the policy."""
        return [
            (task.child_id, task.on_parent_close)
            for task in self.expected.values()
            if isinstance(task, SubOrchestrationTask) and not task.done()
        ]

    def activity_withdrawn(self, task_id: int) -> None:
        """An attempt was cancelled live: the turn withdraws its work item from the store."""
        if not self.is_replaying:
            self.withdrawn.append(task_id)

    def replay(self, events: Iterable[h.Event]) -> None:
        """Rebuild state from a stored history (a cold start); new commands land in `new_events`.

        A divergence stops the replay and leaves `nondeterminism` set and the generation failed.
        """
        try:
            self._replay(list(events))
        except NonDeterminismError:
            self._close()
        except Exception as exc:
            self._crash(exc)

    def _replay(self, events: list[h.Event]) -> None:
        base, recorded, history = len(self.history), self._recorded, self.history
        for i, event in enumerate(events):
            if event.is_command:
                recorded.append((base + i, event))
        self.is_replaying = True
        try:
            for event in events:
                history.append(event)
                if not event.is_command:
                    self._apply(event, live=False)
                elif type(event) in _ENDINGS and self.result is None and not self.done:
                    self._unmatched(event)
                if self.nondeterminism is not None:
                    break
        finally:
            self.is_replaying = False
        if not self.done and self._cursor < len(self._recorded):
            self._unmatched(self._recorded[self._cursor][1])

    def process(self, events: Iterable[h.Event], now: datetime) -> list[h.Event]:
        """Apply new result events at turn time `now`; returns the events this turn appends.

        Events that arrive after the generation ended are dropped, except raised events after
        `continue_as_new`, which go to `carry_over` for the next generation.
        """
        try:
            self._process(events, now)
        except NonDeterminismError:
            self._close()
        except Exception as exc:
            self._crash(exc)
        return self.new_events

    def _process(self, events: Iterable[h.Event], now: datetime) -> None:
        history, new_events, expected = self.history, self.new_events, self.expected
        for event in events:
            if self.result is not None or self.terminated:  # done
                if isinstance(event, (h.EventRaised, h.OrchestrationTerminated)) and isinstance(
                    self.result, h.ContinuedAsNew
                ):
                    self.carry_over.append(event)  # for the next generation, in arrival order
                continue
            task_id = getattr(event, "task_id", None)
            if task_id is not None and task_id not in expected:
                continue  # a duplicate, or a result from an older generation: nothing to do
            # A copy: the store's own object must not change if the turn is lost.
            event = _restamped(event, now)
            history.append(event)
            new_events.append(event)
            self._apply(event, live=True)

    # --- what tasks and the context call -------------------------------------------------------

    def next_id(self) -> int:
        task_id = self._next_id
        self._next_id += 1
        return task_id

    def peek_recorded(self) -> h.Event | None:
        """The next recorded command not yet matched, or None past the end of the history."""
        return self._recorded[self._cursor][1] if self._cursor < len(self._recorded) else None

    def command(self, new: h.Event) -> h.Event:
        """Match `new` against the next recorded command, or record it as new; returns the kept one."""
        if self._cursor < len(self._recorded):
            index, recorded = self._recorded[self._cursor]
            if not matches(recorded, new, self.strict):
                self._fail_replay(diverged(index, recorded, new, self.odef.fn))
            self._cursor += 1
            return recorded
        if self.is_replaying:
            # Every command of a recorded turn is in the history right after its events, so a
            # command past the end while replaying means the recorded run did not issue it.
            self._fail_replay(past_the_end(len(self.history), new))
        self.history.append(new)
        self.new_events.append(new)
        return new

    def check_payload(self, payload: Any, what: str) -> None:
        """`PayloadTooLarge` if `payload` of the next command is over the limit (see `Host`).
        Only the next recorded command with this very payload passes unchecked, so a call
        refused when it ran is refused again in replay, and the code takes the same path."""
        recorded = self.peek_recorded()
        if recorded is None or payload_of(recorded) != payload:
            check_payload_size(payload, what, self.max_payload_bytes)

    def wait_event(self, task: EventTask) -> None:
        """Register an event wait; a buffered event of that name completes it at once."""
        buffered = self._buffer.get(task.name)
        if buffered:
            task._resolve(from_json_value(buffered.popleft(), None))
        else:
            self._waits.setdefault(task.name, deque()).append(task)

    def withdraw(self, task: EventTask) -> None:
        waits = self._waits.get(task.name)
        if waits and task in waits:
            waits.remove(task)

    def buffered_events(self) -> list[tuple[str, Any]]:
        return [(name, value) for name, values in self._buffer.items() for value in values]

    def awaited_events(self) -> list[str]:
        """Names of the event waits still open (one entry per wait), in creation order per name.

        Cheap enough to call after every turn: the testkit stops skipping time while one is open.
        """
        if self.done:
            return []
        return [name for name, waits in self._waits.items() for t in waits if not t.done()]

    def is_awaited(self, task_id: int) -> bool:
        """Whether delivering the result of command `task_id` (a timer firing, an activity
        attempt finishing) would still change anything.

        False once the generation ended or the result was applied, for a cancelled timer (a
        race's loser), a timeout of an attempt that already finished, a retry backoff of a call
        that finished or was cancelled, and an attempt that timed out or lost a race. The
        testkit asks it before skipping virtual time to a due timer or delayed activity.
        """
        if self.done:
            return False
        task = self.expected.get(task_id)
        return task is not None and task.awaits(task_id)

    def waits(self) -> list[Wait]:
        """What this generation waits on, as plain data: pending timers, activity attempts and
        sub-orchestrations that still matter (see `is_awaited`), in task id order, then open
        event waits in creation order per name. Empty once the generation ended.

        Read by the testkit (`run.waiting_for`) and the fuzzer; it walks every pending task, so
        it is meant for inspection, not the turn path.
        """
        if self.done:
            return []
        found = [
            wait
            for task_id, task in sorted(self.expected.items())
            if (wait := task.wait(task_id)) is not None
        ]
        for tasks in self._waits.values():
            found.extend(wait for task in tasks if (wait := task.wait()) is not None)
        return found

    def now(self) -> datetime:
        """The recorded time of the event being applied: the current turn's time (UTC)."""
        assert self._time is not None, "now() is only meaningful while events are applied"
        return self._time

    # --- internals --------------------------------------------------------------------------------

    def _apply(self, event: h.Event, live: bool) -> None:
        self._time = event.at
        task_id: int | None = getattr(event, "task_id", None)
        if task_id is not None:
            # A result: delivered once (a later duplicate finds no task and is dropped live).
            task = self.expected.pop(task_id, None)
            if task is None:
                if not live:
                    self._fail_replay(
                        f"the history has {event.kind} for task {task_id}, but the code had not "
                        "scheduled that task at this point"
                    )
                return
            task.deliver(event)
        elif isinstance(event, h.EventRaised):
            waits = self._waits.get(event.name)
            while waits and waits[0].done():
                waits.popleft()
            if waits:
                waits.popleft()._resolve(from_json_value(event.input, None))
            else:
                self._buffer.setdefault(event.name, deque()).append(event.input)
        elif isinstance(event, h.OrchestrationStarted):
            self._start(event)
        elif isinstance(event, h.OrchestrationTerminated):
            self.terminated = True
            for task_id, task in self.expected.items():  # its pending attempts are withdrawn
                wait = task.wait(task_id)
                if wait is not None and wait.kind == "activity":
                    self.activity_withdrawn(task_id)
            self._close()
            return
        self._run()

    def _start(self, event: h.OrchestrationStarted) -> None:
        self.generation = event.generation
        self.ctx = OrchestrationContext(self)
        self._next_id = 0
        for carried in event.carried_events:  # unconsumed events of the previous generation
            self._buffer.setdefault(carried["name"], deque()).append(carried["input"])
        fn = self.odef.fn
        if not self.odef.takes_input:
            self._coro = fn(self.ctx)
            return
        annotation = self.odef.input_type
        try:
            arg = from_json_value(event.input, annotation)
        except Exception as exc:
            self._finish_error(
                SerializationError(
                    f"the input of {self.odef.name!r} does not fit its annotation "
                    f"{getattr(annotation, '__name__', annotation)}: {exc}"
                )
            )
            return
        self._coro = fn(self.ctx, arg)

    def _run(self) -> None:
        coro = self._coro
        while coro is not None and self.result is None:
            if self._waiting is not None and not self._waiting.done():
                return
            self._waiting = None
            try:
                guard = self.guard
                if guard is not None:
                    # on exactly while the code runs (see `callguard.Guard`)
                    watched = guard.check_clock()
                    saved, FLAG.active = FLAG.active, guard
                    previous = watch() if watched else None
                    try:
                        if self._throw is not None:
                            error, self._throw = self._throw, None
                            yielded = coro.throw(error)
                        else:
                            yielded = coro.send(None)
                    finally:
                        FLAG.active = saved
                        if watched:
                            unwatch(previous)
                elif self._throw is not None:
                    error, self._throw = self._throw, None
                    yielded = coro.throw(error)
                else:
                    yielded = coro.send(None)
            except StopIteration as stop:
                if not self._refused():
                    self._finish_ok(stop.value)
                return
            except ContinueAsNewSignal as signal:
                if not self._refused():
                    self._finish(h.ContinuedAsNew(self.now(), signal.new_input))
                return
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                if self.nondeterminism is None and not self._refused():
                    self._finish_error(exc)
                return
            guard = self.guard
            if guard is not None and guard.error is not None and self._refused():
                return
            if self.nondeterminism is not None:
                # The code swallowed the NonDeterminismError raised into it; it still counts.
                self._close()
                return
            if isinstance(yielded, Task):
                self._waiting = yielded
            else:
                self._throw = NotATaskError(not_a_task(self.odef.name, yielded, coro))

    def _refused(self) -> bool:
        """After a step: if the guard refused a call in it (even one the code caught), the
        generation fails with that error as its non-determinism, like a divergence."""
        guard = self.guard
        if guard is None or guard.error is None or self.nondeterminism is not None:
            return False
        self._record(guard.error)
        self._close()
        return True

    def _finish_ok(self, value: Any) -> None:
        try:
            output = to_json_value(value, "output")
            self.check_payload(output, f"output of {self.odef.name!r}")
        except (SerializationError, PayloadTooLarge) as exc:
            self._finish_error(exc)
            return
        self._finish(h.OrchestrationCompleted(self.now(), output))

    def _finish_error(self, exc: BaseException) -> None:
        # cut to a size any store takes: an error is for people, and a huge one is not stored
        info = h.ErrorInfo(
            type(exc).__name__, cut(safe_str(exc)), cut(user_traceback(exc), _MAX_TRACEBACK)
        )
        if isinstance(exc, RuntimeError) and "no running event loop" in str(exc):
            # asyncio.sleep/gather/... fail before yielding anything: say what to do instead.
            info.type = NotATaskError.__name__
            info.message = used_asyncio(self.odef.name, exc)
        self._finish(h.OrchestrationFailed(self.now(), info))

    def _finish(self, event: h.Event) -> None:
        if isinstance(event, h.ContinuedAsNew):
            try:
                event.input = to_json_value(event.input, "continue_as_new input")
                self.check_payload(event.input, f"continue_as_new input of {self.odef.name!r}")
            except (SerializationError, PayloadTooLarge) as exc:
                self._finish_error(exc)
                return
        kept = self.command(event) if self.nondeterminism is None else event
        if self.nondeterminism is not None:
            return
        self.result = kept
        self._coro = None
        if isinstance(kept, h.ContinuedAsNew):
            for name, value in self.buffered_events():
                self.carry_over.append(h.EventRaised(self.now(), name, value))

    def _crash(self, exc: Exception) -> None:
        """Something other than the orchestration's code failed (bad data, a bug): fail visibly."""
        self._close()
        if self.result is not None or self._time is None:
            raise exc  # nothing to record it on: let the worker log and release the turn
        info = h.ErrorInfo(
            type(exc).__name__,
            f"{exc} (raised while the runtime applied the instance's events; the instance cannot "
            "continue)",
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )
        failed = h.OrchestrationFailed(self._time, info)
        self.history.append(failed)
        self.new_events.append(failed)
        self.result = failed

    def _close(self) -> None:
        if self._coro is not None:
            coro, self._coro = self._coro, None
            with contextlib.suppress(BaseException):
                coro.close()

    def _unmatched(self, recorded: h.Event) -> None:
        index = next(i for i, e in self._recorded if e is recorded)
        self._fail_replay(unmatched(index, recorded))

    def _fail_replay(self, message: str) -> None:
        error = NonDeterminismError(f"{self.odef.name} ({self.instance_id}): {message}")
        if self.nondeterminism is None:
            self._record(error)
        raise error

    def _record(self, error: NonDeterminismError) -> None:
        """The generation fails with `error` as its non-determinism (see `turn.decide`)."""
        self.nondeterminism = error
        info = h.ErrorInfo(type(error).__name__, str(error))
        when = self._time or (self.history[0].at if self.history else None)
        assert when is not None
        failed = h.OrchestrationFailed(when, info)
        self.history.append(failed)
        self.new_events.append(failed)
        self.result = failed


_MAX_TRACEBACK = 64 * 1024  # characters of an orchestration's traceback kept in its error
_ENDINGS = (h.OrchestrationCompleted, h.OrchestrationFailed, h.ContinuedAsNew)
_RESTAMP: dict[type[h.Event], Callable[[h.Event], tuple[Any, ...]]] = {}


def _restamped(event: h.Event, at: datetime) -> h.Event:
    """A copy of `event` with `at` set: copy.copy costs ~8x more on slotted dataclasses."""
    kind = type(event)
    fields = _RESTAMP.get(kind)
    if fields is None:
        names = [f.name for f in dataclasses.fields(kind) if f.name != "at"]
        if len(names) == 1:  # attrgetter of one name returns the bare value (maybe a tuple)
            getter = operator.attrgetter(names[0])
            fields = _RESTAMP[kind] = lambda event: (getter(event),)
        else:
            fields = _RESTAMP[kind] = operator.attrgetter(*names)
    return kind(at, *fields(event))
