"""Frameworks whose workflow code orch-lint can check, and the replay-safe API each offers.

A profile says how to recognise the framework's orchestrations (see ``discovery``), which
textual markers make a file worth parsing, which packages are the framework's own (never
followed: the framework is trusted), what is deterministic on its event loop, which
integrations' calls it makes durable, and what to suggest instead of a banned call, in its
own API. Replacements and hints may use ``{ctx}``: the orchestration's context parameter.

Every replacement named here was checked against the framework's own source:
temporalio ``workflow.now/time/time_ns/uuid4/random/logger/sleep/wait/as_completed``;
durabletask ``OrchestrationContext.current_utc_datetime`` (a property), ``new_uuid()``
(a str), ``create_timer(datetime | timedelta)``, ``create_replay_safe_logger(logger)``;
DBOS ``DBOS.sleep`` (sync) and ``DBOS.sleep_async``; Azure Durable Functions
``DurableOrchestrationContext.current_utc_datetime`` (a property, timezone-aware unlike
durabletask's), ``new_uuid()`` (a str),
``create_timer(datetime)``, ``task_all``/``task_any``.
"""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_PROFILES",
    "FRAMEWORK_PACKAGES",
    "PROFILES",
    "Profile",
    "frameworks_imported",
    "frameworks_used",
    "is_framework_module",
]


class Profile:
    """One framework: markers for the prefilter, its packages, replacements and exemptions.

    ``hints`` override a rule's generic hint; ``async_replacements`` override
    ``replacements`` inside ``async def`` workflows; ``declares`` are texts found in a
    file that declares the framework's workflows (for the profile-off notice); ``durable`` lists calls (qualified
    names, ``pkg.*`` for a whole package) the framework itself makes durable; ``awaited``
    lists calls that are safe when awaited at once (so nothing runs beside them).
    """

    __slots__ = (
        "allowed",
        "async_replacements",
        "awaited",
        "declares",
        "description",
        "disabled",
        "durable",
        "hints",
        "markers",
        "name",
        "only",
        "packages",
        "replacements",
        "required_markers",
    )

    # Written out rather than a dataclass (see linter.findings): built on every run. The
    # attributes are set once here and never changed; profiles compare by identity.
    def __init__(
        self,
        *,
        name: str,
        description: str,
        markers: tuple[str, ...],
        packages: tuple[str, ...] = (),
        declares: tuple[str, ...] = (),
        replacements: dict[str, str] | None = None,
        async_replacements: dict[str, str] | None = None,
        hints: dict[str, str] | None = None,
        allowed: frozenset[str] = frozenset(),
        durable: frozenset[str] = frozenset(),
        awaited: frozenset[str] = frozenset(),
        disabled: frozenset[str] = frozenset(),
        only: frozenset[str] = frozenset(),
        required_markers: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.description = description
        self.markers = markers
        self.packages = packages
        self.declares = declares
        self.replacements = replacements or {}
        self.async_replacements = async_replacements or {}
        self.hints = hints or {}
        self.allowed = allowed
        self.durable = durable
        self.awaited = awaited
        self.disabled = disabled
        self.only = only
        # The prefilter parses a file holding any of ``markers`` only if it also holds all
        # of these: text that no workflow of the framework can be declared without.
        self.required_markers = required_markers

    def __repr__(self) -> str:
        return f"<Profile {self.name}>"


# Primitives of a deterministic asyncio loop: on a framework that runs workflows on one
# (Temporal's event loop, DBOS's numbered steps), they order work the same way on replay.
_LOOP_PRIMITIVES = frozenset(
    {
        "asyncio.TaskGroup",
        "asyncio.Event",
        "asyncio.Queue",
        "asyncio.Lock",
        "asyncio.Semaphore",
        "asyncio.Condition",
        "asyncio.Future",
        "asyncio.get_running_loop",
        "asyncio.get_event_loop",
        "asyncio.current_task",
    }
)


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
    hints={
        "ORC101": "The context's clock is the time the turn started, recorded in the history.",
        "ORC102": "The context's random source and UUIDs are seeded from the instance id.",
        "ORC104": "Fan out with ctx tasks: created in a fixed order, completed from the history.",
        "ORC106": "The context's logger is silent while replaying, so each message appears once.",
        "ORC110": "Keep state in local variables, the orchestration's input, or "
        "continue_as_new(state).",
        "ORC112": "Schedule activities through the context; the result then comes from the "
        "history on replay.",
        "ORC113": "Only await ctx tasks (or your own helpers that do); wrap other awaitables in "
        "an activity.",
    },
)

_TEMPORAL = Profile(
    name="temporal",
    description="Temporal: @workflow.defn classes (run/signal/query/update handlers, __init__)",
    markers=("workflow",),
    packages=("temporalio",),
    declares=("workflow.defn",),
    replacements={
        "ORC101": "`workflow.now()` (or `workflow.time()`)",
        "ORC102": "`workflow.uuid4()` or `workflow.random()`",
        "ORC103": "`await workflow.sleep(seconds)` (or `asyncio.sleep`, durable in workflows)",
        "ORC104": "asyncio tasks on the workflow's own event loop, and `workflow.wait(...)` / "
        "`workflow.as_completed(...)` for `asyncio.wait` / `asyncio.as_completed`",
        "ORC105": "an activity run with `workflow.execute_activity(...)`",
        "ORC106": "`workflow.logger`, which is silent while replaying",
        "ORC107": "an activity, or a value passed in as the workflow's input",
        "ORC113": "a workflow API call such as `workflow.execute_activity(...)`",
        "ORC112": "`await workflow.execute_activity(fn, input, ...)`",
        "ORC116": "an activity, or a value passed in as the workflow's input",
    },
    hints={
        "ORC101": "`workflow.now()` is the workflow's time, recorded in the history.",
        "ORC102": "`workflow.random()` and `workflow.uuid4()` are seeded by the workflow and "
        "replay the same values.",
        "ORC104": "Temporal runs workflow coroutines on a deterministic event loop; threads "
        "and executors run outside it.",
        "ORC106": "`workflow.logger` skips messages while replaying.",
        "ORC110": "Keep state on the workflow instance (`self`) or in its input; carry it on "
        "with `workflow.continue_as_new(...)`.",
        "ORC112": "Run activities with `workflow.execute_activity`; the result then comes "
        "from the history on replay.",
        "ORC113": "Await workflow APIs (activities, timers, child workflows) or your own "
        "helpers that do; move other I/O into an activity.",
    },
    # Temporal runs workflows on a deterministic event loop: these are replay-safe there.
    # (Its sandbox warns on asyncio.wait and asyncio.as_completed: they stay reported.)
    allowed=frozenset(
        {
            "asyncio.sleep",
            "asyncio.gather",
            "asyncio.create_task",
            "asyncio.ensure_future",
            "asyncio.wait_for",
            "asyncio.shield",
            "asyncio.timeout",
        }
        | _LOOP_PRIMITIVES
    ),
    # The OpenAI Agents SDK integration runs model calls and tools as activities.
    durable=frozenset(
        {"agents.Runner.run", "agents.Runner.run_streamed", "agents.Runner.run_sync"}
    ),
    # Every workflow lives in a ``@workflow.defn`` class (``defn`` however it is imported);
    # "workflow" alone is in most files of a Temporal project (clients, workers, tests).
    required_markers=("defn",),
)

_DURABLETASK = Profile(
    name="durabletask",
    description="durabletask: generator orchestrators taking a durabletask OrchestrationContext",
    markers=("durabletask",),
    packages=("durabletask",),
    declares=("OrchestrationContext", "add_orchestrator", "add_named_orchestrator"),
    replacements={
        "ORC101": "`{ctx}.current_utc_datetime` (a property)",
        "ORC102": "`{ctx}.new_uuid()` for ids; other random values from an activity",
        "ORC103": "`yield {ctx}.create_timer(timedelta(seconds=...))`",
        "ORC104": "`yield task.when_all([...])` or `yield task.when_any([...])`",
        "ORC105": "an activity: `yield {ctx}.call_activity(fn, input=...)`",
        "ORC106": "a logger from `{ctx}.create_replay_safe_logger(logger)`",
        "ORC107": "an activity, or a value passed in as the orchestrator's input",
        "ORC112": "`yield {ctx}.call_activity(fn, input=...)`",
    },
    hints={
        "ORC101": "`current_utc_datetime` is the orchestration's time, recorded in the history.",
        "ORC102": "`new_uuid()` derives a UUID from the instance id and the orchestration time.",
        "ORC104": "Tasks from the context are completed from the history; threads are not.",
        "ORC106": "A replay-safe logger skips messages while the orchestrator is replaying.",
        "ORC110": "Keep state in local variables or the orchestrator's input; carry it on "
        "with `continue_as_new(...)`.",
        "ORC112": "Call activities through the context; the result then comes from the "
        "history on replay.",
    },
    disabled=frozenset({"ORC113"}),
)

_DBOS = Profile(
    name="dbos",
    description="DBOS: functions and methods decorated @DBOS.workflow()",
    markers=("DBOS",),
    packages=("dbos",),
    declares=("DBOS.workflow",),
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
    async_replacements={
        "ORC103": "`await DBOS.sleep_async(seconds)` (a durable sleep)",
        "ORC104": "`DBOS.start_workflow_async(...)` or a queue; threads are never replay-safe",
    },
    hints={
        "ORC101": "A step's result is checkpointed, so the recovered workflow sees the same time.",
        "ORC102": "A step's result is checkpointed, so the recovered workflow sees the same value.",
        "ORC104": "Work started through DBOS is recorded; threads are not.",
        "ORC106": "Workflows re-run on recovery, so plain output repeats.",
        "ORC110": "Keep state in local variables or the workflow's input.",
        "ORC113": "Await steps, DBOS APIs or your own helpers that do; move other I/O into a step.",
    },
    # DBOS numbers steps as they start, and asyncio starts tasks in creation order, so its
    # documented pattern of concurrent steps (asyncio.gather / create_task) replays the same.
    # Waiting with a timeout is not allowed: whether it fires depends on real time.
    allowed=frozenset(
        {
            "asyncio.gather",
            "asyncio.create_task",
            "asyncio.ensure_future",
        }
        | _LOOP_PRIMITIVES
    ),
    # DBOS's own advice for a sync function in an async workflow (its context follows the
    # thread); awaited at once, nothing runs beside it.
    awaited=frozenset({"asyncio.to_thread"}),
    # DBOS steps are meant to be called directly from a workflow.
    disabled=frozenset({"ORC112"}),
)

_AZURE = Profile(
    name="azure-durable",
    description="Azure Durable Functions: @app.orchestration_trigger and "
    "df.Orchestrator.create generator orchestrators",
    markers=("durable_functions", "orchestration_trigger", "Orchestrator"),
    packages=("azure.durable_functions",),
    declares=(
        "orchestration_trigger",
        "Orchestrator.create",
        "DurableOrchestrationContext",
        "call_activity",
    ),
    replacements={
        "ORC101": "`{ctx}.current_utc_datetime` (a property)",
        "ORC102": "`{ctx}.new_uuid()` for ids; other random values from an activity",
        "ORC103": "`yield {ctx}.create_timer(fire_at)` with `fire_at` computed from "
        "`{ctx}.current_utc_datetime`",
        "ORC104": "`yield {ctx}.task_all([...])` or `yield {ctx}.task_any([...])`",
        "ORC105": "an activity: `yield {ctx}.call_activity(name, input)`",
        "ORC106": "logging guarded by `if not {ctx}.is_replaying:`",
        "ORC107": "an activity, or a value passed in as the orchestrator's input",
        "ORC112": "`yield {ctx}.call_activity(name, input)`",
    },
    hints={
        "ORC101": "`current_utc_datetime` is the orchestration's time, recorded in the history.",
        "ORC102": "`new_uuid()` derives a UUID from the instance id and the orchestration time.",
        "ORC104": "Tasks from the context are completed from the history; threads are not.",
        "ORC106": "Orchestrators replay from the start, so plain output repeats.",
        "ORC110": "Keep state in local variables or the orchestrator's input; carry it on "
        "with `continue_as_new(...)`.",
        "ORC112": "Call activities through the context; the result then comes from the "
        "history on replay.",
    },
    disabled=frozenset({"ORC113"}),
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (_ORCHESTRATE, _TEMPORAL, _DURABLETASK, _DBOS, _AZURE)
}
DEFAULT_PROFILES: tuple[str, ...] = ("orchestrate",)
FRAMEWORK_PACKAGES: tuple[str, ...] = tuple(pkg for p in PROFILES.values() for pkg in p.packages)

# A file imports a framework when a line starts with ``from``/``import`` and one of its
# packages. A plain substring search for the package comes first: it is many times faster
# than the line-anchored pattern over a file without a match, and most files have none (the
# patterns are compiled on first need, which a run over such files never reaches).
_PACKAGES = {
    name: tuple(pkg.encode() for pkg in profile.packages)
    for name, profile in PROFILES.items()
    if profile.packages
}
_DECLARES = {name: tuple(d.encode() for d in PROFILES[name].declares) for name in _PACKAGES}
_IMPORTS: dict[str, re.Pattern[bytes]] = {}


def _import_pattern(name: str) -> re.Pattern[bytes]:
    pattern = _IMPORTS.get(name)
    if pattern is None:
        pattern = _IMPORTS[name] = re.compile(
            rb"^[ \t]*(?:from|import)[ \t]+(?:"
            + b"|".join(re.escape(pkg) for pkg in _PACKAGES[name])
            + rb")\b",
            re.MULTILINE,
        )
    return pattern


def is_framework_module(qualname: str) -> bool:
    """Whether ``qualname`` is (inside) a framework's own package: trusted, never followed."""
    return any(qualname == pkg or qualname.startswith(pkg + ".") for pkg in FRAMEWORK_PACKAGES)


def _imports(name: str, data: bytes) -> bool:
    return any(p in data for p in _PACKAGES[name]) and bool(_import_pattern(name).search(data))


def frameworks_imported(data: bytes) -> frozenset[str]:
    """The profiles whose framework a file's source imports (a textual check, no parse)."""
    return frozenset(name for name in _PACKAGES if _imports(name, data))


def frameworks_used(data: bytes, besides: frozenset[str] = frozenset()) -> frozenset[str]:
    """The profiles (other than ``besides``) whose workflows a file's source declares: it
    imports the framework and shows one of its declaration markers (a textual check, no
    parse). Run on every file of every run: the cheapest test comes first (most files name
    no framework), without a generator per file."""
    found: list[str] = []
    for name, packages in _PACKAGES.items():
        if name in besides:
            continue
        for package in packages:
            if package in data:
                break
        else:
            continue
        if any(m in data for m in _DECLARES[name]) and _import_pattern(name).search(data):
            found.append(name)
    return frozenset(found) if found else _NONE


_NONE: frozenset[str] = frozenset()
