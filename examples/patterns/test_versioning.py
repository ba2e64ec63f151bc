"""A deploy, simulated: version 1 workers start instances, version 2 workers take over.

Both versions share one store, as two deployments of the same service share one database. The
version 2 worker starts with an empty cache, so it resumes old instances by replaying their
version 1 histories, exactly as after a real deploy.
"""

from __future__ import annotations

from typing import Any

from orchestrate import Client, OrchestrationContext, Registry, Status, Worker
from orchestrate import history as h
from testkit import TestEnv
from tests.orchestrate.conftest import Harness

from . import versioning
from ._history import scheduled

ORDER = {"id": "o-1", "total": 120}

# --- version 1, as it was deployed before the fraud check existed -------------------------------

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
    return {"order": order["id"], "status": "fulfilled", "version": 1}


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


def deploy(old: Harness, new_registry: Registry) -> Harness:
    """A new worker with the new code over the old store; the old worker is gone."""
    new = Harness(new_registry)
    new.store, new.clock = old.store, old.clock
    new.client = Client(old.store, registry=new_registry, clock=old.clock)
    new.worker = Worker(new_registry, old.store, clock=old.clock)
    return new


def test_an_old_instance_keeps_the_old_path_and_a_new_one_takes_the_new_path() -> None:
    before = Harness(v1)
    old_id = before.start("fulfil_order", ORDER, instance_id="old")
    assert scheduled(before.history(old_id)) == ["charge"]  # waiting for Packed

    after = deploy(before, versioning.reg)
    new_id = after.start("fulfil_order", {**ORDER, "id": "o-2"}, instance_id="new")
    for key in (old_id, new_id):
        after.client.raise_event(key, "Packed", {"parcels": 2})
    after.settle()

    old, new = after.state(old_id), after.state(new_id)
    assert old.status == new.status == Status.COMPLETED
    assert old.output == {"order": "o-1", "status": "fulfilled", "version": 1}
    assert new.output == {"order": "o-2", "status": "fulfilled", "version": 2}
    assert scheduled(after.history(old_id)) == ["charge", "send_receipt"]
    assert scheduled(after.history(new_id)) == ["score_fraud", "charge", "send_receipt"]
    assert not any(isinstance(e, h.PatchMarker) for e in after.history(old_id))
    assert [e.patch for e in after.history(new_id) if isinstance(e, h.PatchMarker)] == [
        versioning.FRAUD_PATCH
    ]
    receipts = {e.input["order"]: e.input for e in after.history(old_id) + after.history(new_id)
                if isinstance(e, h.ActivityScheduled) and e.name == "send_receipt"}  # fmt: skip
    assert "fraud_score" not in receipts["o-1"]
    assert receipts["o-2"]["fraud_score"] == 0.05


def test_without_the_patch_guard_the_old_instance_breaks_on_replay() -> None:
    before = Harness(v1)
    old_id = before.start("fulfil_order", ORDER, instance_id="old")

    after = deploy(before, unguarded)
    after.client.raise_event(old_id, "Packed", {"parcels": 1})
    after.settle()

    # The turn fails, not the instance: it keeps waiting (its event unconsumed, its history
    # untouched) and shows why, so rolling the deploy back lets it carry on.
    state = after.state(old_id)
    assert state.status == Status.RUNNING
    assert state.error is not None and state.error.type == "NonDeterminismError"
    assert "score_fraud" in state.error.message and "charge" in state.error.message
    assert scheduled(after.history(old_id)) == ["charge"]


def test_the_patched_code_replays_a_recorded_version_1_history() -> None:
    before = Harness(v1)
    old_id = before.start("fulfil_order", ORDER, instance_id="old")
    before.client.raise_event(old_id, "Packed", {"parcels": 3})
    before.settle()

    replayed = TestEnv(versioning.reg).replay(before.history(old_id))
    assert replayed.output == {"order": "o-1", "status": "fulfilled", "version": 1}


def test_new_instances_get_the_fraud_hold() -> None:
    env = TestEnv(versioning.reg)
    run = env.run(versioning.fulfil_order, {"id": "o-9", "total": 9000})

    assert run.output == {"order": "o-9", "status": "held", "fraud_score": 0.9}
    assert run.calls(versioning.charge) == []
