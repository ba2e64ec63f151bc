"""Every error the runtime raises, rooted in one class so callers can catch them all.

Misuse errors also derive from the matching builtin (`TypeError`, `ValueError`, `KeyError`) so
ordinary ``except`` clauses keep working.
"""

from __future__ import annotations

__all__ = [
    "ActivityCancelled",
    "ActivityFailed",
    "CompensationFailed",
    "DuplicateInstance",
    "InstanceNotFound",
    "InstanceNotRunning",
    "InvalidInstanceId",
    "NonDeterminismError",
    "NonDeterministicCallError",
    "NotATaskError",
    "OrchestrateError",
    "PayloadTooLarge",
    "RaiseEventFailed",
    "RegistrationError",
    "SerializationError",
    "StoreError",
    "StoreUnavailable",
    "SubOrchestrationFailed",
    "TaskCancelled",
    "TaskFailed",
    "UnknownActivity",
    "UnknownOrchestration",
]


class OrchestrateError(Exception):
    """Root of every error raised by orchestrate."""


class ActivityCancelled(OrchestrateError):
    """Raised by `activity_info().heartbeat()` when the attempt is no longer wanted.

    Its orchestration cancelled the call (a lost race, `task.cancel()`, a timeout), the attempt
    missed its `heartbeat_timeout`, or this worker lost the item's lease; the attempt's result
    would be dropped. Let it propagate (or return early): nothing the activity returns now is
    recorded.
    """


class RegistrationError(OrchestrateError, ValueError):
    """A registry was given something it cannot register (duplicate name, not a function...)."""


class _LookupError(OrchestrateError, KeyError):
    """A failed lookup that reads as its message (a plain KeyError would repr() it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownActivity(_LookupError):
    """An orchestration asked for an activity name that no registry entry has."""


class UnknownOrchestration(_LookupError):
    """An instance names an orchestration that this worker's registry does not hold."""


class SerializationError(OrchestrateError, TypeError):
    """A payload is not JSON-serializable; the message names the offending path."""


class PayloadTooLarge(OrchestrateError, ValueError):
    """A payload (input, result, event data, status) encodes to more bytes than the limit."""


class NonDeterminismError(OrchestrateError):
    """Replaying the history produced different commands than the recorded ones."""


class NonDeterministicCallError(NonDeterminismError):
    """Orchestration code called something that gives another answer on replay (the wall clock,
    `random`, `uuid4`, `time.sleep`, a thread, a file or socket) while the call guard was on.

    Raised at the call itself, naming it, the orchestration, the file:line and the `ctx`
    replacement; recorded on the instance like any `NonDeterminismError` (see `callguard`).
    """


class NotATaskError(OrchestrateError, TypeError):
    """An orchestration awaited something other than a task created through its context."""


class InstanceNotFound(_LookupError):
    """No instance with this id exists in the store."""


class InstanceNotRunning(OrchestrateError):
    """The instance has already finished, so it cannot take events."""


class InvalidInstanceId(OrchestrateError, ValueError, TypeError):
    """An instance id is not a non-empty string (an empty id would silently become a random one).

    A `ValueError` (the empty string) and a `TypeError` (not a string) alike.
    """


class DuplicateInstance(OrchestrateError, ValueError):
    """An instance with this id already exists."""


class StoreError(OrchestrateError):
    """The store cannot be opened or read (wrong schema, corrupt data, lost lease)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now (a lost connection, a server restarting); the
    call may work when retried. Unlike other `StoreError`s it says nothing about the data: a
    worker backs off and retries, it never fails an instance for it."""


class TaskCancelled(OrchestrateError):
    """A task was cancelled (it lost a race or `cancel()` was called) before it finished."""


class TaskFailed(OrchestrateError):
    """A task scheduled by an orchestration failed; carries the remote error's type and message."""

    def __init__(self, name: str, error_type: str, message: str) -> None:
        super().__init__(f"{name} failed with {error_type}: {message}")
        self.name = name
        self.error_type = error_type
        self.message = message

    def __reduce__(self) -> tuple[type[TaskFailed], tuple[str, str, str]]:
        return (type(self), (self.name, self.error_type, self.message))


class ActivityFailed(TaskFailed):
    """An activity failed on its last attempt (or timed out: ``error_type == "TimeoutError"``)."""


class SubOrchestrationFailed(TaskFailed):
    """A sub-orchestration ended failed or terminated."""


class RaiseEventFailed(TaskFailed):
    """``ctx.raise_event`` could not deliver: ``error_type`` is ``"InstanceNotFound"`` (no
    instance has the id) or ``"InstanceNotRunning"`` (it finished); `name` is the event's."""


class CompensationFailed(OrchestrateError):
    """One or more saga compensations failed; ``failures`` lists them in the order they ran."""

    def __init__(self, failures: list[TaskFailed]) -> None:
        names = ", ".join(f"{f.name} ({f.error_type}: {f.message})" for f in failures)
        super().__init__(f"{len(failures)} compensation(s) failed: {names}")
        self.failures = failures
