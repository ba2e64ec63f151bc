"""Bug class: ``hash()`` of a string used as data (a partition number).

`buggy` routes each line of an order to one of 64 inventory partitions through the inventory's
`Partitioner`, whose ``digest`` is the built-in ``hash(key)``. String hashes are salted per
process (``PYTHONHASHSEED``), so the partition is stable inside one process (tests and
in-process replays agree) and different in the next: a restarted worker replays the history,
computes other partitions, issues `reserve` with other inputs and fails with a non-determinism
error; before that, two workers would have written the same sku to different partitions. Only a
replay in another interpreter (the fuzzer's ``hash_seeds``) shows it. Unlike iterating a set, the
order is fine; the values are not.

Why orch-lint cannot see it: the orchestration calls ``INVENTORY.partition(sku)``, a method of a
module-level object; the linter follows functions and ``Class.method`` calls it can name, not
methods looked up on an instance, so the ``hash()`` inside `Partitioner` is never checked from
an orchestration. Static analysis would need the type of `INVENTORY` and dynamic dispatch
(``partition`` calls ``self.digest``, which a subclass may override) to know which ``digest``
runs.

Fix (`fixed`): a partitioner whose digest is the same in every process (``zlib.crc32``).
"""

from __future__ import annotations

import zlib
from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()

PARTITIONS = 64


class Partitioner:
    """Spreads keys over `count` partitions."""

    def __init__(self, count: int) -> None:
        self.count = count

    def digest(self, key: str) -> int:
        return hash(key)  # the bug: salted per process

    def partition(self, key: str) -> int:
        return self.digest(key) % self.count


class StablePartitioner(Partitioner):
    """Spreads keys over `count` partitions, the same way in every process."""

    def digest(self, key: str) -> int:
        return zlib.crc32(key.encode())


INVENTORY = Partitioner(PARTITIONS)
STABLE_INVENTORY = StablePartitioner(PARTITIONS)


@reg.activity
def reserve(line: dict[str, Any]) -> str:
    return f"{line['sku']}@p{line['partition']}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    lines = [{"sku": sku, "partition": INVENTORY.partition(sku)} for sku in order["skus"]]
    reserved = await ctx.all([ctx.activity(reserve, line) for line in lines])
    return {"reserved": len(reserved)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    lines = [{"sku": sku, "partition": STABLE_INVENTORY.partition(sku)} for sku in order["skus"]]
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
