"""Stubbed sub-orchestrations: ``env.script(child, ok(...) | fail(...) | hang() | delay(...))``.

A stubbed child is still started by its parent as a real child instance (the parent's history,
`on_parent_close`, termination and the replay check are unchanged); only the child's code is
replaced by a stand-in that answers with the scripted outcome. The stand-in runs under the
child's registered name, in the env's own copy of the registry (`Registry.copy`,
`Registry.replace_orchestration`), so the user's registry is never changed.

Each child instance takes its outcome from the script once, when it first runs; its replays
(the replay check, a resume after eviction) reuse that outcome, so the stand-in is
deterministic like any orchestration must be.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, Literal

from orchestrate import OrchestrationContext, Registry, UnknownActivity

from .errors import StubbedOrchestration
from .outcomes import Delay, Entry, Fail, Hang, Ok, Outcome, Script, resolve

__all__ = ["HANG_EVENT", "ChildStubs", "unknown_script_target"]

HANG_EVENT = "testkit: a stubbed child scripted to hang() (never raised)"


class ChildStubs:
    """The scripted children of one env, on its registry copy `registry`."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._scripts: dict[str, Script] = {}
        self._chosen: dict[str, Outcome] = {}  # child instance id -> its outcome

    def script(
        self,
        name: str,
        outcomes: Entry | Sequence[Entry],
        exhaust: Literal["repeat", "error"] = "repeat",
    ) -> None:
        """Stub orchestration `name` from now on: its next instances answer from `outcomes`."""
        self._scripts[name] = Script(name, outcomes, exhaust, kind="orchestration")
        self.registry.replace_orchestration(name, self._stand_in(name))

    def refuse_top_level(self, name: str) -> None:
        """`StubbedOrchestration` if `name` is stubbed: running it would test the stub."""
        if name in self._scripts:
            raise StubbedOrchestration(
                f"orchestration {name!r} is scripted (env.script({name!r}, ...)), so running it "
                "would run the stub, not its code; scripts stand in for the children the code "
                f"under test starts. Drop the env.script call for {name!r}, or run it in "
                "another TestEnv"
            )

    def _outcome(self, name: str, instance_id: str, value: Any) -> Outcome:
        chosen = self._chosen.get(instance_id)
        if chosen is None:
            entry = self._scripts[name].next()
            chosen = self._chosen[instance_id] = resolve(entry, value)
        return chosen

    def _stand_in(self, name: str) -> Callable[..., Any]:
        stubs = self

        async def stubbed_child(ctx: OrchestrationContext, value: Any = None) -> Any:
            outcome: Outcome | Callable[[Any], Any] = stubs._outcome(name, ctx.instance_id, value)
            while isinstance(outcome, Delay):
                await ctx.sleep(outcome.after)
                outcome = outcome.then
            final = resolve(outcome, value)
            if isinstance(final, Hang):
                await ctx.event(HANG_EVENT)
            if isinstance(final, Fail):
                raise _error(final)
            assert isinstance(final, Ok)
            return final.value

        stubbed_child.__qualname__ = f"stubbed child {name!r}"
        return stubbed_child


def unknown_script_target(registry: Registry, name: str) -> UnknownActivity:
    """The error for ``env.script(name, ...)`` when `name` is neither an activity nor an
    orchestration: the registered names, the closest to `name` first."""
    activities, orchestrations = sorted(registry.activities), sorted(registry.orchestrations)
    close = difflib.get_close_matches(name, activities + orchestrations, n=3, cutoff=0.6)
    guess = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    return UnknownActivity(
        f"no activity or orchestration named {name!r} is registered, so env.script cannot "
        f"script it; {guess}registered activities: {', '.join(activities) or 'none'}; "
        f"orchestrations: {', '.join(orchestrations) or 'none'}"
    )


def _error(outcome: Fail) -> Exception:
    """An exception whose class name is the scripted error type (what the parent's
    `SubOrchestrationFailed.error_type` shows)."""
    kind: type[Exception] = type(outcome.error_type, (Exception,), {"__module__": __name__})
    return kind(outcome.message)
