"""Registry: decorators, names, lookups and registration errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import (
    OrchestrationContext,
    RegistrationError,
    Registry,
    RetryPolicy,
    UnknownActivity,
    UnknownOrchestration,
)


def test_decorators_register_sync_and_async_activities_by_name_and_function() -> None:
    reg = Registry()

    @reg.activity
    def reserve(order: dict[str, int]) -> str:
        return "r"

    policy = RetryPolicy(max_attempts=3)

    @reg.activity(name="Charge", retry=policy, timeout=30)
    async def charge(order: dict[str, int]) -> str:
        return "c"

    assert reserve({}) == "r"  # the decorator returns the function unchanged
    assert reg.get_activity(reserve) is reg.get_activity("reserve")
    charge_def = reg.get_activity(charge)
    assert (charge_def.name, charge_def.retry, charge_def.timeout) == (
        "Charge",
        policy,
        timedelta(seconds=30),
    )
    assert charge_def.is_async and not reg.get_activity(reserve).is_async
    assert sorted(reg.activities) == ["Charge", "reserve"]


def test_orchestrations_must_be_async_and_names_unique() -> None:
    reg = Registry()

    @reg.orchestration
    async def flow(ctx: OrchestrationContext, value: int) -> int:
        return value

    assert reg.get_orchestration("flow").fn is flow
    with pytest.raises(RegistrationError, match="must be an `async def`"):
        reg.orchestration(lambda ctx: None)
    with pytest.raises(RegistrationError, match="'flow' is already registered as an orchestration"):

        @reg.activity(name="flow")
        def other() -> None: ...


def test_unknown_lookups_list_what_is_registered() -> None:
    reg = Registry()

    @reg.activity
    def known() -> None: ...

    with pytest.raises(
        UnknownActivity, match=r"no activity named 'nope' .*registered activities: known"
    ):
        reg.get_activity("nope")
    with pytest.raises(UnknownActivity, match="is not registered; decorate it"):
        reg.get_activity(print)
    with pytest.raises(UnknownOrchestration, match="registered orchestrations: none"):
        reg.get_orchestration("missing")


def test_a_copy_can_replace_an_orchestration_without_touching_the_original() -> None:
    original = Registry()

    @original.orchestration
    async def child(ctx: Any, value: Any = None) -> str:
        return "real"

    async def stand_in(ctx: Any, value: Any = None) -> str:
        return "stub"

    twin = original.copy()
    twin.replace_orchestration(child, stand_in)
    assert twin.get_orchestration(child).fn is stand_in  # looked up by the original function
    assert twin.get_orchestration("child").name == "child"
    assert original.get_orchestration("child").fn is child
    with pytest.raises(RegistrationError, match="must be an `async def`"):
        twin.replace_orchestration("child", lambda ctx: None)
