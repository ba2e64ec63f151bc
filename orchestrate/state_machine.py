"""`StateMachine`: an event-driven saga (states, events, transitions, final states) that compiles
to an ordinary orchestration.

Each instance is one saga, correlated by its instance id: events raised to the instance drive its
transitions. In a state, the machine waits for any event that has a transition out of it (and for
the state's timeout, if any); the transition's action may call activities and register
compensations; entering a state listed in `compensate_in` undoes the registered steps. The current
state and data are published as the custom status, so clients can query them.

    sm = StateMachine("order", initial="AwaitingPayment", final=["Completed", "Failed"],
                      compensate_in=["Failed"])

    @sm.transition("AwaitingPayment", on="PaymentProcessed", to="AwaitingShipment")
    async def paid(ctx, saga, payment):
        saga.data["tx"] = payment["tx"]
        saga.compensations.add(refund, payment["tx"])

    sm.timeout("AwaitingPayment", timedelta(hours=1), to="Failed")
    sm.register(reg)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .context import OrchestrationContext
from .errors import CompensationFailed, RegistrationError
from .registry import Registry
from .saga import Saga
from .task import Task

__all__ = ["SagaInstance", "StateMachine"]

Action = Callable[[OrchestrationContext, "SagaInstance", Any], Awaitable[str | None]]


@dataclass
class SagaInstance:
    """The running saga: its current `state`, its JSON `data`, and its `compensations`."""

    state: str
    data: dict[str, Any]
    compensations: Saga
    history: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Transition:
    source: str
    event: str
    target: str
    action: Action | None


@dataclass(frozen=True)
class _Timeout:
    after: timedelta
    target: str
    action: Action | None


class StateMachine:
    """Declares states and transitions, then registers them as one orchestration named `name`."""

    def __init__(
        self,
        name: str,
        *,
        initial: str,
        final: Iterable[str],
        compensate_in: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.initial = initial
        self.final = frozenset(final)
        self.compensate_in = frozenset(compensate_in)
        self._transitions: dict[str, dict[str, _Transition]] = {}
        self._timeouts: dict[str, _Timeout] = {}
        if not self.final:
            raise RegistrationError(f"state machine {name!r} needs at least one final state")
        unknown = self.compensate_in - self.final
        if unknown:
            raise RegistrationError(
                f"compensate_in names {sorted(unknown)}, which are not final states of {name!r}; "
                "compensation runs when the saga ends, so list final states only"
            )

    @property
    def states(self) -> frozenset[str]:
        found = {self.initial, *self.final}
        for source, edges in self._transitions.items():
            found.add(source)
            found.update(t.target for t in edges.values())
        found.update(t.target for t in self._timeouts.values())
        return frozenset(found)

    def transition(self, source: str, *, on: str, to: str) -> Callable[[Action], Action]:
        """Decorate the action run when event `on` arrives in state `source`.

        The action may return another state name to override `to` (a conditional transition).
        """

        def register(action: Action) -> Action:
            self._add(source, on, to, action)
            return action

        return register

    def on(self, source: str, event: str, to: str) -> None:
        """A transition with no action."""
        self._add(source, event, to, None)

    def timeout(
        self, source: str, after: timedelta | float, *, to: str, action: Action | None = None
    ) -> None:
        """Leave `source` for `to` if no handled event arrives within `after`."""
        if source in self.final:
            raise RegistrationError(f"final state {source!r} of {self.name!r} cannot time out")
        delay = after if isinstance(after, timedelta) else timedelta(seconds=after)
        self._timeouts[source] = _Timeout(delay, to, action)

    def _add(self, source: str, event: str, target: str, action: Action | None) -> None:
        if source in self.final:
            raise RegistrationError(
                f"{self.name!r}: {source!r} is a final state, so it cannot have a transition on "
                f"{event!r}; remove it from `final` or drop the transition"
            )
        edges = self._transitions.setdefault(source, {})
        if event in edges:
            raise RegistrationError(
                f"{self.name!r}: state {source!r} already has a transition on {event!r} "
                f"(to {edges[event].target!r}); return a state name from its action to branch"
            )
        edges[event] = _Transition(source, event, target, action)

    def validate(self) -> None:
        """Every non-final state must have a way out; raises `RegistrationError` otherwise."""
        stuck = sorted(
            s
            for s in self.states - self.final
            if not self._transitions.get(s) and s not in self._timeouts
        )
        if stuck:
            raise RegistrationError(
                f"state machine {self.name!r}: states {stuck} are not final and have no "
                "transition or timeout out of them; an instance entering them would wait forever"
            )

    def register(self, registry: Registry) -> Callable[..., Any]:
        """Validate and register the machine as an orchestration; returns the orchestration."""
        self.validate()
        machine = self

        async def run(
            ctx: OrchestrationContext, data: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            return await machine._run(ctx, dict(data or {}))

        run.__name__ = run.__qualname__ = self.name
        return registry.orchestration(name=self.name)(run)

    async def _run(self, ctx: OrchestrationContext, data: dict[str, Any]) -> dict[str, Any]:
        saga = SagaInstance(self.initial, data, Saga(ctx), [self.initial])
        self._publish(ctx, saga)
        while saga.state not in self.final:
            edges = self._transitions.get(saga.state, {})
            waits: dict[str, Task[Any]] = {name: ctx.event(name) for name in edges}
            racers: list[Task[Any]] = list(waits.values())
            limit = self._timeouts.get(saga.state)
            timer = ctx.timer(limit.after) if limit is not None else None
            if timer is not None:
                racers.append(timer)
            winner = await ctx.any(racers)
            if winner is timer:
                assert limit is not None
                target, action, payload = limit.target, limit.action, None
            else:
                event = next(name for name, task in waits.items() if task is winner)
                edge = edges[event]
                target, action, payload = edge.target, edge.action, winner.result()
            if action is not None:
                chosen = await action(ctx, saga, payload)
                target = chosen or target
            if target not in self.states:
                raise ValueError(
                    f"{self.name!r}: the action moved to unknown state {target!r}; known states: "
                    f"{', '.join(sorted(self.states))}"
                )
            saga.state = target
            saga.history.append(target)
            if target in self.compensate_in:
                try:
                    await saga.compensations.compensate(continue_on_error=True)
                except CompensationFailed as exc:
                    saga.data["compensation_failures"] = [str(f) for f in exc.failures]
            self._publish(ctx, saga)
        return {"state": saga.state, "data": saga.data, "path": saga.history}

    @staticmethod
    def _publish(ctx: OrchestrationContext, saga: SagaInstance) -> None:
        ctx.set_status({"state": saga.state, "data": saga.data})
