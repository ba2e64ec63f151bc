"""orchestrate: a minimal durable runtime for deterministic orchestrations.

See docs/design.md for the model. The public names are re-exported here; modules not listed are
internal.
"""

from .activity import ActivityInfo, activity_info
from .client import Client
from .clock import Clock, SystemClock
from .codec import history_from_json, history_to_json
from .context import OrchestrationContext
from .errors import (
    ActivityCancelled,
    ActivityFailed,
    CompensationFailed,
    DuplicateInstance,
    InstanceNotFound,
    InstanceNotRunning,
    InvalidInstanceId,
    NonDeterminismError,
    NonDeterministicCallError,
    NotATaskError,
    OrchestrateError,
    PayloadTooLarge,
    RaiseEventFailed,
    RegistrationError,
    SerializationError,
    StoreError,
    StoreUnavailable,
    SubOrchestrationFailed,
    TaskCancelled,
    TaskFailed,
    UnknownActivity,
    UnknownOrchestration,
)
from .history import ErrorInfo, Event
from .registry import Registry
from .retry import RetryPolicy
from .runtime import Runtime, open_store
from .saga import Saga
from .state import InstanceQuery, InstanceState, Status
from .state_machine import SagaInstance, StateMachine
from .stores.contract import Store
from .stores.memory import MemoryStore
from .task import Task
from .worker import Worker

__all__ = [
    "ActivityCancelled",
    "ActivityFailed",
    "ActivityInfo",
    "Client",
    "Clock",
    "CompensationFailed",
    "DuplicateInstance",
    "ErrorInfo",
    "Event",
    "InstanceNotFound",
    "InstanceNotRunning",
    "InstanceQuery",
    "InstanceState",
    "InvalidInstanceId",
    "MemoryStore",
    "NonDeterminismError",
    "NonDeterministicCallError",
    "NotATaskError",
    "OrchestrateError",
    "OrchestrationContext",
    "PayloadTooLarge",
    "RaiseEventFailed",
    "RegistrationError",
    "Registry",
    "RetryPolicy",
    "Runtime",
    "Saga",
    "SagaInstance",
    "SerializationError",
    "StateMachine",
    "Status",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SubOrchestrationFailed",
    "SystemClock",
    "Task",
    "TaskCancelled",
    "TaskFailed",
    "UnknownActivity",
    "UnknownOrchestration",
    "Worker",
    "activity_info",
    "history_from_json",
    "history_to_json",
    "open_store",
]
