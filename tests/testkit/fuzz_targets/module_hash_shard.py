"""Bug class: ``hash()`` of a string used as data (a partition number).

`buggy` routes each line of an order to one of 64 inventory partitions with
``hash(sku) % PARTITIONS``. String hashes are salted per process (``PYTHONHASHSEED``), so the
partition is stable inside one process (tests and in-process replays agree) and different in the
next: a restarted worker replays the history, computes other partitions, issues `reserve` with
other inputs and fails with a non-determinism error; before that, two workers would have written
the same sku to different partitions. Only a replay in another interpreter (the fuzzer's
``hash_seeds``) shows it. Unlike iterating a set, the order is fine; the values are not.

Fix (`fixed`): a hash that is the same in every process (``zlib.crc32``).
"""

from __future__ import annotations

import zlib
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

PARTITIONS = 64


def partition(sku: str) -> int:
    """The sku's inventory partition (the bug: salted per process)."""
    return hash(sku) % PARTITIONS


def stable_partition(sku: str) -> int:
    """The sku's inventory partition, the same in every process."""
    return zlib.crc32(sku.encode()) % PARTITIONS


@reg.activity
def reserve(line: dict[str, Any]) -> str:
    return f"{line['sku']}@p{line['partition']}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    lines = [{"sku": sku, "partition": partition(sku)} for sku in order["skus"]]
    reserved = await ctx.all([ctx.activity(reserve, line) for line in lines])
    return {"reserved": len(reserved)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    lines = [{"sku": sku, "partition": stable_partition(sku)} for sku in order["skus"]]
    reserved = await ctx.all([ctx.activity(reserve, line) for line in lines])
    return {"reserved": len(reserved)}


def each_sku_reserved_once(run: Any) -> None:
    """A completed order reserved each of its skus once, in a valid partition."""
    if run.status == Status.COMPLETED:
        lines = scheduled_inputs(run, "reserve")
        assert [line["sku"] for line in lines] == ORDER["skus"]
        assert all(0 <= line["partition"] < PARTITIONS for line in lines)


ORDER: dict[str, Any] = {"id": "o-21", "skus": ["sku-red", "sku-green", "sku-blue", "sku-black"]}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ORDER, "invariant": each_sku_reserved_once},
    "fixed": {"input": ORDER, "invariant": each_sku_reserved_once},
}

PLAIN: dict[str, Any] = {"input": ORDER, "output": {"reserved": 4}}
CAUGHT_BY_TESTENV = False
