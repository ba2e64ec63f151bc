"""Deploys, simulated: versions 1, 2 and 3 of `fulfil_order` take over one store in turn.

All versions share one store, as successive deployments of one service share one database. Each
new worker starts with an empty cache, so it resumes old instances by replaying the histories
the earlier versions recorded, exactly as after a real deploy. Only public API (a `MemoryStore`,
a `Client`, one `Worker` per version, a `FakeClock`), so these tests can be copied as they are.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrate import Client, MemoryStore, OrchestrationContext, Registry, Status, Worker
from orchestrate import history as h
from testkit import FakeClock, TestEnv

from . import versioning
from ._history import scheduled

ORDER = {"id": "o-1", "total": 120}

# --- version 1, as deployed before the fraud check existed ------------------------------------

v1 = Registry()
for activity in (versioning.charge, versioning.send_receipt):
    v1.activity(activity)


@v1.orchestration(name="fulfil_order")
async def fulfil_order_v1(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    tx = await ctx.activity("charge", order)
    packed = await ctx.event("Packed")
    await ctx.activity(
        "send_receipt", {"order": order["id"], "tx": tx, "parcels": packed["parcels"]}
    )
    return {"order": order["id"], "status": "fulfilled", "fraud_checked": False, "points": None}


# --- version 2: the fraud check, before the loyalty points existed ----------------------------

v2 = Registry()
for v2_activity in (
    versioning.score_fraud,
    versioning.charge,
    versioning.send_receipt,
    versioning.hold_for_review,
):
    v2.activity(v2_activity)


@v2.orchestration(name="fulfil_order")
async def fulfil_order_v2(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    score = None
    if ctx.patched(versioning.FRAUD_PATCH):
        score = await ctx.activity("score_fraud", order)
    tx = await ctx.activity("charge", order)
    packed = await ctx.event("Packed")
    receipt = {"order": order["id"], "tx": tx, "parcels": packed["parcels"]}
    if score is not None:
        receipt["fraud_score"] = score
    await ctx.activity("send_receipt", receipt)
    return {
        "order": order["id"],
        "status": "fulfilled",
        "fraud_checked": score is not None,
        "points": None,
    }


# --- version 2 without the patch guard: what ctx.patched prevents ------------------------------

unguarded = Registry()
for fn in (versioning.score_fraud, versioning.charge, versioning.send_receipt):
    unguarded.activity(fn)


@unguarded.orchestration(name="fulfil_order")
async def fulfil_order_unguarded(
    ctx: OrchestrationContext, order: dict[str, Any]
) -> dict[str, Any]:
    await ctx.activity("score_fraud", order)
    await ctx.activity("charge", order)
    await ctx.event("Packed")
    return {"order": order["id"], "status": "fulfilled"}


class Deployment:
    """One store and clock; `deploy` replaces the running worker with one on new code."""

    def __init__(self, registry: Registry) -> None:
        self.clock, self.store = FakeClock(), MemoryStore()
        self.deploy(registry)

    def deploy(self, registry: Registry) -> None:
        self.client = Client(self.store, registry=registry, clock=self.clock)
        self.worker = Worker(registry, self.store, clock=self.clock, sync_activities=1)

    def settle(self) -> None:
        for _ in range(1000):
            if not self.worker.poll_once():
                return
        raise AssertionError("the worker never settled")

    def start(self, order: dict[str, Any], instance_id: str) -> str:
        self.client.start("fulfil_order", order, instance_id=instance_id)
        self.settle()
        return instance_id

    def history(self, instance_id: str) -> list[h.Event]:
        return self.client.history(instance_id)


def _patches(history: list[h.Event]) -> list[str]:
    return [e.patch for e in history if isinstance(e, h.PatchMarker)]


def test_instances_of_each_generation_finish_on_the_path_they_started() -> None:
    world = Deployment(v1)
    world.start(ORDER, "from-v1")  # charged, waiting for Packed
    world.deploy(v2)
    world.start({**ORDER, "id": "o-2"}, "from-v2")  # fraud-checked, charged, waiting
    world.deploy(versioning.reg)
    world.start({**ORDER, "id": "o-3"}, "from-v3")
    for key in ("from-v1", "from-v2", "from-v3"):
        world.client.raise_event(key, "Packed", {"parcels": 2})
    world.settle()

    out = {key: world.client.state(key).output for key in ("from-v1", "from-v2", "from-v3")}
    assert out["from-v1"] == {
        "order": "o-1",
        "status": "fulfilled",
        "fraud_checked": False,
        "points": 12,
    }
    assert out["from-v2"] == {
        "order": "o-2",
        "status": "fulfilled",
        "fraud_checked": True,
        "points": 12,
    }
    assert out["from-v3"] == out["from-v2"] | {"order": "o-3"}
    # the loyalty point was reached under version 3 by all three: each recorded its marker there
    assert _patches(world.history("from-v1")) == [versioning.LOYALTY_PATCH]
    assert _patches(world.history("from-v2")) == [versioning.FRAUD_PATCH, versioning.LOYALTY_PATCH]
    assert scheduled(world.history("from-v1")) == ["charge", "award_points", "send_receipt"]
    assert scheduled(world.history("from-v3")) == [
        "score_fraud",
        "charge",
        "award_points",
        "send_receipt",
    ]


@pytest.mark.parametrize(("generation", "patches"), [(v1, []), (v2, [versioning.FRAUD_PATCH])])
def test_todays_code_replays_histories_finished_under_each_earlier_generation(
    generation: Registry, patches: list[str]
) -> None:
    world = Deployment(generation)
    world.start(ORDER, "old")
    world.client.raise_event("old", "Packed", {"parcels": 3})
    world.settle()
    recorded = world.history("old")
    assert _patches(recorded) == patches

    replayed = TestEnv(versioning.reg).replay(recorded)
    assert replayed.output == world.client.state("old").output
    assert replayed.output["points"] is None  # it went past the loyalty point without one


def test_without_the_patch_guard_the_old_instance_breaks_on_replay() -> None:
    world = Deployment(v1)
    world.start(ORDER, "old")
    world.deploy(unguarded)
    world.client.raise_event("old", "Packed", {"parcels": 1})
    world.settle()

    # The turn fails, not the instance: it keeps waiting (its event unconsumed, its history
    # untouched) and shows why, so rolling the deploy back lets it carry on.
    state = world.client.state("old")
    assert state.status == Status.RUNNING
    assert state.error is not None and state.error.type == "NonDeterminismError"
    assert "score_fraud" in state.error.message and "charge" in state.error.message
    assert scheduled(world.history("old")) == ["charge"]


def test_new_instances_get_the_fraud_hold() -> None:
    env = TestEnv(versioning.reg)
    run = env.run(versioning.fulfil_order, {"id": "o-9", "total": 9000})

    assert run.output == {"order": "o-9", "status": "held", "fraud_score": 0.9}
    assert run.calls(versioning.charge) == []
