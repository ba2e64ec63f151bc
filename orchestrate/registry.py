"""The registry: which activity and orchestration functions exist, under which names."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, overload

from .errors import RegistrationError, UnknownActivity, UnknownOrchestration
from .payload import first_param_annotation, return_annotation
from .retry import RetryPolicy

__all__ = ["ActivityDef", "OrchestrationDef", "Registry"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ActivityDef:
    """A registered activity: the function plus its default retry policy and timeout."""

    name: str
    fn: Callable[..., Any]
    retry: RetryPolicy | None = None
    timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    @functools.cached_property
    def takes_input(self) -> bool:
        return _positional_count(self.fn) >= 1

    @functools.cached_property
    def input_type(self) -> Any:
        """The resolved annotation of the input parameter (None if absent): what inputs decode to."""
        return first_param_annotation(self.fn, 0)

    @functools.cached_property
    def result_type(self) -> Any:
        """The function's resolved return annotation (None if absent): what results decode to."""
        return return_annotation(self.fn)


@dataclass
class OrchestrationDef:
    """A registered orchestration: an ``async def`` taking the context and one input."""

    name: str
    fn: Callable[..., Any]

    @functools.cached_property
    def takes_input(self) -> bool:
        return _positional_count(self.fn) >= 2

    @functools.cached_property
    def input_type(self) -> Any:
        """The resolved annotation of the input (after ctx), None if absent: what it decodes to."""
        return first_param_annotation(self.fn, 1)


def _positional_count(fn: Callable[..., Any]) -> int:
    params = inspect.signature(fn).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 99
    return sum(1 for p in params if p.kind in kinds)


class Registry:
    """Holds activities and orchestrations by name; look them up by function or by name."""

    def __init__(self) -> None:
        self._activities: dict[str, ActivityDef] = {}
        self._orchestrations: dict[str, OrchestrationDef] = {}
        self._by_fn: dict[Any, str] = {}
        # Every function and name an activity is looked up by -> its def: one dict lookup on the
        # hot path (each ctx.activity call); misses fall back to the explanatory slow path.
        self._activity_lookup: dict[Any, ActivityDef] = {}

    @overload
    def activity(self, fn: F, /) -> F: ...
    @overload
    def activity(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: timedelta | float | None = None,
        heartbeat_timeout: timedelta | float | None = None,
    ) -> Callable[[F], F]: ...

    def activity(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: timedelta | float | None = None,
        heartbeat_timeout: timedelta | float | None = None,
    ) -> F | Callable[[F], F]:
        """Register an activity: ``@reg.activity`` or ``@reg.activity(name=..., retry=..., timeout=...)``.

        `heartbeat_timeout`: an attempt that goes longer than this without calling
        `activity_info().heartbeat()` (counted from its start) is treated as lost: it fails
        with ``error_type="TimeoutError"`` (the retry policy decides what follows) and its
        heartbeat raises `ActivityCancelled` from then on.
        """

        def register(f: F) -> F:
            if not callable(f):
                raise RegistrationError(f"@activity needs a function, got {f!r}")
            key = name or f.__name__
            self._check_free(key, f)
            defn = self._activities[key] = ActivityDef(
                key, f, retry, _as_timedelta(timeout), _as_timedelta(heartbeat_timeout)
            )
            self._by_fn[f] = key
            self._activity_lookup[key] = self._activity_lookup[f] = defn
            return f

        return register(fn) if fn is not None else register

    @overload
    def orchestration(self, fn: F, /) -> F: ...
    @overload
    def orchestration(self, fn: None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def orchestration(
        self, fn: F | None = None, /, *, name: str | None = None
    ) -> F | Callable[[F], F]:
        """Register an orchestration (an ``async def (ctx, input)``): ``@reg.orchestration``."""

        def register(f: F) -> F:
            if not inspect.iscoroutinefunction(f):
                raise RegistrationError(
                    f"orchestration {getattr(f, '__name__', f)!r} must be an `async def` taking "
                    "(ctx, input); got a plain function"
                )
            key = name or f.__name__
            self._check_free(key, f)
            self._orchestrations[key] = OrchestrationDef(key, f)
            self._by_fn[f] = key
            return f

        return register(fn) if fn is not None else register

    def _check_free(self, key: str, fn: Any) -> None:
        if key in self._activities or key in self._orchestrations:
            kind = "an activity" if key in self._activities else "an orchestration"
            raise RegistrationError(
                f"the name {key!r} is already registered as {kind}; pass name='...' to register "
                f"{getattr(fn, '__qualname__', fn)!r} under a different name"
            )

    def name_of(self, target: Callable[..., Any] | str) -> str:
        """The registered name of a function (or the name itself, for a string)."""
        if isinstance(target, str):
            return target
        try:
            return self._by_fn[target]
        except (KeyError, TypeError):
            label = getattr(target, "__qualname__", repr(target))
            raise UnknownActivity(
                f"{label} is not registered; decorate it with @reg.activity or @reg.orchestration"
            ) from None

    def get_activity(self, target: Callable[..., Any] | str) -> ActivityDef:
        """The activity registered under this function or name; `UnknownActivity` otherwise."""
        try:
            return self._activity_lookup[target]
        except (KeyError, TypeError):
            pass
        key = self.name_of(target)
        try:
            return self._activities[key]
        except KeyError:
            known = ", ".join(sorted(self._activities)) or "none"
            raise UnknownActivity(
                f"no activity named {key!r} is registered (registered activities: {known}); "
                "check the name or register it with @reg.activity"
            ) from None

    def get_orchestration(self, target: Callable[..., Any] | str) -> OrchestrationDef:
        """The orchestration under this function or name; `UnknownOrchestration` otherwise."""
        key = target if isinstance(target, str) else self._by_fn.get(target, "")
        try:
            return self._orchestrations[key]
        except KeyError:
            known = ", ".join(sorted(self._orchestrations)) or "none"
            label = key or getattr(target, "__qualname__", repr(target))
            raise UnknownOrchestration(
                f"no orchestration named {label!r} is registered (registered orchestrations: "
                f"{known}); register it with @reg.orchestration"
            ) from None

    def copy(self) -> Registry:
        """A registry with the same activities and orchestrations, registered independently
        from now on (`replace_orchestration` on the copy leaves this one alone)."""
        twin = Registry()
        twin._activities = dict(self._activities)
        twin._orchestrations = dict(self._orchestrations)
        twin._by_fn = dict(self._by_fn)
        twin._activity_lookup = dict(self._activity_lookup)
        return twin

    def replace_orchestration(self, target: Callable[..., Any] | str, fn: Callable[..., Any]) -> None:
        """Run `fn` (an ``async def``) for the registered orchestration `target` from now on,
        under the same name; the original function still names it. The testkit's stand-ins
        for stubbed sub-orchestrations (`TestEnv.script`) use it on a `copy`."""
        name = self.get_orchestration(target).name
        if not inspect.iscoroutinefunction(fn):
            raise RegistrationError(
                f"the stand-in for orchestration {name!r} must be an `async def`, got {fn!r}"
            )
        self._orchestrations[name] = OrchestrationDef(name, fn)

    @property
    def activities(self) -> dict[str, ActivityDef]:
        return dict(self._activities)

    @property
    def orchestrations(self) -> dict[str, OrchestrationDef]:
        return dict(self._orchestrations)


def _as_timedelta(value: timedelta | float | None) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)
