"""Frameworks whose workflow code orch-lint can check, and the replay-safe API each offers.

A profile says how to recognise the framework's orchestrations (see ``discovery``), which
textual markers make a file worth parsing, and what to suggest instead of a banned call.
Replacements may use ``{ctx}``: the orchestration's own context parameter name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_PROFILES", "PROFILES", "Profile"]


@dataclass(frozen=True)
class Profile:
    """One framework: markers for the prefilter, replacements by rule code, exemptions."""

    name: str
    description: str
    markers: tuple[str, ...]
    replacements: dict[str, str] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset()
    disabled: frozenset[str] = frozenset()
    # The prefilter parses a file holding any of ``markers`` only if it also holds all of
    # these: text that no workflow of the framework can be declared without.
    required_markers: tuple[str, ...] = ()


_ORCHESTRATE = Profile(
    name="orchestrate",
    description="orchestrate's own @reg.orchestration functions taking an OrchestrationContext",
    markers=("orchestration", "OrchestrationContext"),
    replacements={
        "ORC101": "`{ctx}.now()`",
        "ORC102": "`{ctx}.uuid()` or `{ctx}.random()`",
        "ORC103": "`await {ctx}.sleep(seconds)` (a durable timer)",
        "ORC104": "`{ctx}.all(...)`, `{ctx}.any(...)` or `{ctx}.as_completed(...)` over ctx tasks",
        "ORC105": "an activity scheduled with `await {ctx}.activity(...)`",
        "ORC106": "`{ctx}.log`, which is silent while replaying",
        "ORC107": "an activity, or a value passed in as the orchestration's input",
        "ORC113": "a ctx task such as `{ctx}.activity(...)` or `{ctx}.timer(...)`",
        "ORC112": "`await {ctx}.activity(fn, input)`",
    },
)

_TEMPORAL = Profile(
    name="temporal",
    description="Temporal: @workflow.run/signal/query/update methods of @workflow.defn classes",
    markers=("workflow",),
    replacements={
        "ORC101": "`workflow.now()`",
        "ORC102": "`workflow.uuid4()` or `workflow.random()`",
        "ORC103": "`await workflow.sleep(seconds)` (or `asyncio.sleep`, durable in workflows)",
        "ORC104": "asyncio tasks in the workflow's own event loop (threads never are replay-safe)",
        "ORC105": "an activity run with `workflow.execute_activity(...)`",
        "ORC106": "`workflow.logger`, which is silent while replaying",
        "ORC107": "an activity, or a value passed in as the workflow's input",
        "ORC113": "a workflow API call such as `workflow.execute_activity(...)`",
        "ORC112": "`await workflow.execute_activity(fn, input, ...)`",
    },
    # Temporal runs workflows on a deterministic event loop: these are replay-safe there.
    allowed=frozenset(
        {
            "asyncio.sleep",
            "asyncio.gather",
            "asyncio.create_task",
            "asyncio.wait",
            "asyncio.as_completed",
            "asyncio.ensure_future",
            "asyncio.wait_for",
            "asyncio.TaskGroup",
            "asyncio.Event",
            "asyncio.Queue",
            "asyncio.Lock",
        }
    ),
    # Every workflow lives in a ``@workflow.defn`` class (``defn`` however it is imported);
    # "workflow" alone is in most files of a Temporal project (clients, workers, tests).
    required_markers=("defn",),
)

_DURABLETASK = Profile(
    name="durabletask",
    description="durabletask: generator orchestrators taking a durabletask OrchestrationContext",
    markers=("durabletask",),
    replacements={
        "ORC101": "`{ctx}.current_utc_datetime`",
        "ORC102": "a value computed in an activity (`yield {ctx}.call_activity(...)`)",
        "ORC103": "`yield {ctx}.create_timer(fire_at)`",
        "ORC104": "`yield task.when_all([...])` or `yield task.when_any([...])`",
        "ORC105": "an activity: `yield {ctx}.call_activity(fn, input=...)`",
        "ORC106": "logging guarded by `if not {ctx}.is_replaying:`",
        "ORC107": "an activity, or a value passed in as the orchestrator's input",
        "ORC112": "`yield {ctx}.call_activity(fn, input=...)`",
    },
    disabled=frozenset({"ORC113"}),
)

_DBOS = Profile(
    name="dbos",
    description="DBOS: functions decorated @DBOS.workflow()",
    markers=("DBOS",),
    replacements={
        "ORC101": "a `@DBOS.step()` that reads the clock (its result is checkpointed)",
        "ORC102": "a `@DBOS.step()` that draws the value (its result is checkpointed)",
        "ORC103": "`DBOS.sleep(seconds)` (a durable sleep)",
        "ORC104": "`DBOS.start_workflow(...)` or a queue; threads are never replay-safe",
        "ORC105": "a `@DBOS.step()` that does the I/O",
        "ORC106": "`DBOS.logger`",
        "ORC107": "a `@DBOS.step()` that does the lookup",
        "ORC113": "a step or `DBOS` API call",
    },
    # DBOS steps are meant to be called directly from a workflow.
    disabled=frozenset({"ORC112"}),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (_ORCHESTRATE, _TEMPORAL, _DURABLETASK, _DBOS)}
DEFAULT_PROFILES: tuple[str, ...] = ("orchestrate",)
