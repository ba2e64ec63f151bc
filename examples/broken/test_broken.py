"""Each broken twin is caught, by the tool that can see its bug, with the expected message.

* Statically visible bugs (a clock read, randomness, a blocking sleep, module state, set order,
  non-determinism hidden in a helper): `orch-lint examples/broken/` reports exactly these, at
  the offending line, helpers with their call chain.
* Bugs only a run can show (an interleaving that skips a compensation, a non-idempotent charge
  under duplicate delivery, code that assumes a completion order, overlapping checks, an
  undeclared state transition): the fuzzer finds each with its invariant's message, and the
  set-order bug a second way, by replaying under other hash seeds.
* A change without ``ctx.patched`` is deterministic today: replaying a history recorded by the
  old code finds it.
And the project's own clean-lint guard keeps excluding this folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linter.cli import main as orch_lint
from orchestrate import NonDeterminismError, OrchestrationContext, Registry
from testkit import TestEnv
from testkit.fuzz import FuzzFailure, fuzz

from . import unpatched_change

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

# file -> [(line, code, words the message or chain must contain)]
STATIC: dict[str, list[tuple[int, str, str]]] = {
    "cached_prices.py": [(29, "ORC111", "`_PRICE_CACHE` mutates a module-level container")],
    "fan_out_over_set.py": [(26, "ORC108", "comprehension over a set")],
    "monitor_wall_clock.py": [
        (24, "ORC101", "`datetime.now()` reads the wall clock"),
        (27, "ORC101", "`datetime.now()` reads the wall clock"),
    ],
    "order_number_helper.py": [(24, "ORC102", "via open_order -> new_order_number -> _suffix")],
    "random_provider.py": [(30, "ORC102", "`random.choice()` draws a fresh random value")],
    "retry_with_sleep.py": [(30, "ORC103", "`time.sleep()` sleeps in the worker")],
}

# module:orchestration -> (the property that breaks, words of the message)
DYNAMIC: dict[str, tuple[str, str]] = {
    "leaky_reservations:reserve_order": ("invariant", "rolled back but still reserved"),
    "double_charge:pay": ("invariant", "charged 2 times for one order"),
    "race_assumes_primary:fetch": ("invariant", "TaskCancelled: activity 'query_primary_db'"),
    "overlapping_checks:monitor": ("invariant", "started while"),
    "any_event_any_state:order_saga": ("invariant", "undeclared AwaitingPayment -> "),
}


def _lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = orch_lint(["--no-cache", "--format", "json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else []


def test_orch_lint_flags_exactly_the_statically_visible_twins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, findings = _lint(capsys, "examples/broken/")

    assert code == 1
    found: dict[str, list[tuple[int, str, str]]] = {}
    for f in findings:
        text = f"{f['message']} (chain: {' -> '.join(f['chain'])})"
        found.setdefault(Path(f["path"]).name, []).append((f["line"], f["code"], text))
    assert sorted(found) == sorted(STATIC)  # the dynamic twins are clean to the linter
    for name, expected in STATIC.items():
        got = found[name]
        assert [(line, c) for line, c, _ in got] == [(line, c) for line, c, _ in expected], name
        for (_, _, text), (_, _, words) in zip(got, expected, strict=True):
            assert words in text, f"{name}: {words!r} not in {text!r}"


def test_the_projects_clean_lint_guard_excludes_the_broken_twins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, findings = _lint(capsys, "examples")
    assert (code, findings) == (0, [])


@pytest.mark.parametrize("target", sorted(DYNAMIC))
def test_the_fuzzer_finds_the_twins_only_a_run_can_show(target: str) -> None:
    import importlib

    module_name, orchestration = target.split(":")
    module = importlib.import_module(f"examples.broken.{module_name}")
    prop, words = DYNAMIC[target]
    with pytest.raises(FuzzFailure) as caught:
        fuzz(
            module.reg,
            orchestration,
            **module.FUZZ[orchestration],
            max_examples=100,
            hash_seeds=0,
            seed=1,
        )

    message = str(caught.value)
    assert message.startswith(f"{prop} broke for {orchestration}"), message[:200]
    assert words in message, message[:600]
    assert "Shrunk schedule" in message and f"orch-fuzz examples/broken/{module_name}.py" in message


def test_the_fuzzer_also_finds_set_order_by_replaying_under_other_hash_seeds() -> None:
    from . import fan_out_over_set as twin

    with pytest.raises(FuzzFailure) as caught:
        fuzz(twin.reg, "reserve_all", **twin.FUZZ["reserve_all"], max_examples=5, seed=1)
    message = str(caught.value)
    assert message.startswith("replay safety broke for reserve_all"), message[:200]
    assert "in a fresh interpreter with PYTHONHASHSEED=" in message
    assert "depends on the order of a set" in message


# --- a change without ctx.patched: found by replaying what the old code recorded -------------------

before = Registry()
before.activity(unpatched_change.charge)
before.activity(unpatched_change.send_receipt)


@before.orchestration(name="fulfil_order")
async def fulfil_order_before(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    tx = await ctx.activity("charge", order)
    packed = await ctx.event("Packed")
    await ctx.activity(
        "send_receipt", {"order": order["id"], "tx": tx, "parcels": packed["parcels"]}
    )
    return {"order": order["id"], "status": "fulfilled"}


def test_replaying_an_old_history_finds_the_unpatched_change() -> None:
    old = TestEnv(before)
    recorded = old.run(fulfil_order_before, {"id": "o-1", "total": 120})
    old.raise_event(recorded.instance_id, "Packed", {"parcels": 1})

    with pytest.raises(NonDeterminismError) as caught:
        TestEnv(unpatched_change.reg).replay(recorded.history)
    message = str(caught.value)
    assert "score_fraud" in message and "charge" in message
    assert "ctx.patched" in message
