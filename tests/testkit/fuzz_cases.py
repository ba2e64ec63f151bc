"""Small orchestrations the fuzzer's own tests run (the bug catalogue is in fuzz_targets/)."""

from __future__ import annotations

from datetime import timedelta

from orchestrate import ActivityFailed, OrchestrationContext, Registry

reg = Registry()
_TURNS: dict[str, int] = {}


@reg.activity
def add(x: int) -> int:
    return x + 1


@reg.activity
def slow(x: int) -> int:
    return x


@reg.orchestration
async def chain(ctx: OrchestrationContext, x: int) -> int:
    for _ in range(3):
        x = await ctx.activity(add, x)
    return x


@reg.orchestration
async def fan_out(ctx: OrchestrationContext, n: int) -> list[int]:
    return await ctx.all([ctx.activity(add, i) for i in range(n)])


@reg.orchestration
async def arrival_order(ctx: OrchestrationContext, n: int) -> list[int]:
    """Replay-safe, but its output depends on the order results arrive in."""
    return [await t async for t in ctx.as_completed([ctx.activity(add, i) for i in range(n)])]


@reg.orchestration
async def race(ctx: OrchestrationContext, _: None = None) -> str:
    call, timer = ctx.activity(slow, 1), ctx.timer(timedelta(minutes=5))
    return "call" if await ctx.any([call, timer]) is call else "timer"


@reg.orchestration
async def counted(ctx: OrchestrationContext, x: int) -> int:
    """Counts its executions in a module dict: a replay always sees the other parity."""
    _TURNS[ctx.instance_id] = _TURNS.get(ctx.instance_id, 0) + 1
    if _TURNS[ctx.instance_id] % 2 == 0:
        x = await ctx.activity(add, 100)
    return await ctx.activity(add, x)


@reg.orchestration
async def wait_approval(ctx: OrchestrationContext, _: None = None) -> str:
    approval, timer = ctx.event("Approval"), ctx.timer(timedelta(hours=1))
    winner = await ctx.any([approval, timer])
    return "expired" if winner is timer else f"approved: {await winner}"


@reg.orchestration
async def wait_forever(ctx: OrchestrationContext, _: None = None) -> str:
    return str(await ctx.event("Never"))


@reg.orchestration
async def no_timeout(ctx: OrchestrationContext, _: None = None) -> int:
    return await ctx.activity(slow, 1)


@reg.orchestration
async def endless(ctx: OrchestrationContext, x: int) -> int:
    while True:
        x = await ctx.activity(add, x)


@reg.orchestration
async def tolerant(ctx: OrchestrationContext, n: int) -> dict[str, int]:
    results = await ctx.all([ctx.activity(add, i) for i in range(n)], return_exceptions=True)
    failed = sum(isinstance(r, ActivityFailed) for r in results)
    return {"ok": n - failed, "failed": failed}


@reg.orchestration
async def generations(ctx: OrchestrationContext, left: int) -> str:
    if left > 0:
        await ctx.activity(add, left)
        ctx.continue_as_new(left - 1)
    return "done"


@reg.orchestration
async def regions_unsorted(ctx: OrchestrationContext, names: list[str]) -> list[int]:
    """Set order follows the interpreter's hash seed: a worker started later replays another."""
    return [await ctx.activity(add, len(name)) for name in set(names)]


@reg.orchestration
async def regions_sorted(ctx: OrchestrationContext, names: list[str]) -> list[int]:
    return [await ctx.activity(add, len(name)) for name in sorted(set(names))]


@reg.orchestration
async def partly_reached(ctx: OrchestrationContext, x: int) -> int:
    if x > 1_000_000:
        x = await ctx.activity(slow, x)  # no example gets here
    return await ctx.activity(add, x)


@reg.orchestration
async def first_turn_failure(ctx: OrchestrationContext, x: int) -> int:
    return x + 1  # a str input fails before anything is scheduled


@reg.orchestration
async def wait_approval_or_call(ctx: OrchestrationContext, _: None = None) -> str:
    call, timer = ctx.activity(slow, 1, timeout=timedelta(minutes=1)), ctx.timer(timedelta(hours=1))
    return "call" if await ctx.any([call, timer]) is call else "timer"


@reg.orchestration
async def logged(ctx: OrchestrationContext, x: int) -> int:
    ctx.log.info("adding to %s", x)
    return await ctx.activity(add, x)


REGIONS = ["eu-west", "us-east", "ap-south", "sa-east", "af-south", "me-central"]
FUZZ = {
    "chain": {"input": 1, "max_examples": 10},
    "counted": {"input": 1},
    "regions_unsorted": {"input": REGIONS, "max_examples": 5},
    "regions_sorted": {"input": REGIONS, "max_examples": 5},
}
