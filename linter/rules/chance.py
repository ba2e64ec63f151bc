"""Rules about values that differ between runs: random draws, salted hashes and ids."""

from __future__ import annotations

import libcst as cst

from linter.rules._api import api, durable_ctx, module_name
from linter.rules._base import CallRule, Context, Fixer, Invalid, can_fix, ctx_attr

__all__ = ["HashOrId", "Randomness"]


_RANDOM_METHODS = frozenset(
    {
        "random",
        "randint",
        "randrange",
        "choice",
        "choices",
        "shuffle",
        "sample",
        "uniform",
        "gauss",
        "getrandbits",
        "randbytes",
        "triangular",
        "betavariate",
        "expovariate",
        "normalvariate",
        "lognormvariate",
        "vonmisesvariate",
        "paretovariate",
        "weibullvariate",
        "gammavariate",
        "binomialvariate",
    }
)


class Randomness(CallRule):
    CODE = "ORC102"
    NAME = "randomness"
    MESSAGE = "draws a fresh random value, so a replay takes a different path"
    HINT = (
        "Draw random values and ids from the framework's replay-safe source, or in a recorded step."
    )
    RATIONALE = (
        "Random numbers and random UUIDs differ on every run. Used for a branch, an activity "
        "input or an id, they make the replay diverge from the history. `ctx.random()` is a "
        "`random.Random` seeded from the instance id and call count, and `ctx.uuid()` derives "
        "a UUID the same way. Seeded generators (`random.Random(42)`) and name-based UUIDs "
        "(`uuid5`, `uuid.UUID(...)`) are deterministic and allowed."
    )
    CALLS = frozenset(
        {f"random.{m}" for m in _RANDOM_METHODS}
        | {
            "random.seed",
            "random.Random",
            "random.SystemRandom",
            "secrets.*",
            "os.urandom",
            "os.getrandom",
            "uuid.uuid1",
            "uuid.uuid4",
        }
    )
    VALID = (
        """\
import random
import uuid

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    rng = random.Random(42)
    key = uuid.uuid5(uuid.NAMESPACE_URL, order["url"])
    ident = uuid.UUID(order["id"])
    return f"{ctx.random().random()} {ctx.uuid()} {rng.random()} {key} {ident}"
""",
    )
    INVALID = (
        Invalid(
            """\
import random
from uuid import uuid4 as new_id

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.orchestration
async def saga(ctx: OrchestrationContext, lines: list) -> str:
    pick = random.choice(lines)  # expect: ORC102
    ident = new_id()  # expect: ORC102
    rng = random.Random()  # expect: ORC102
    return f"{pick} {ident} {rng}"
""",
            fixed="""\
import random
from uuid import uuid4 as new_id

from orchestrate import OrchestrationContext, Registry

reg = Registry()

@reg.orchestration
async def saga(ctx: OrchestrationContext, lines: list) -> str:
    pick = ctx.random().choice(lines)  # expect: ORC102
    ident = ctx.uuid()  # expect: ORC102
    rng = random.Random()  # expect: ORC102
    return f"{pick} {ident} {rng}"
""",
        ),
        Invalid("""\
import os
import secrets

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> str:
    token = secrets.token_hex(8)  # expect: ORC102
    salt = os.urandom(4)  # expect: ORC102
    return f"{token}{salt!r}"
"""),
    )

    def applies(self, call: cst.Call, qualname: str) -> bool:
        if qualname == "random.Random":
            return not call.args
        return True

    def fixer(self, call: cst.Call, qualname: str, cx: Context) -> Fixer | None:
        module, _, method = qualname.partition(".")
        workflow = api(cx, "temporal")
        if workflow is not None:
            if qualname == "uuid.uuid4" and not call.args:
                return lambda node: node.with_changes(func=ctx_attr(workflow, "uuid4"))
            if module == "random" and method in _RANDOM_METHODS:
                return lambda node: node.with_changes(
                    func=cst.Attribute(cst.Call(ctx_attr(workflow, "random")), cst.Name(method))
                )
        ctx_name = durable_ctx(cx)
        if (
            ctx_name is not None
            and qualname == "uuid.uuid4"
            and not call.args
            and module_name(cx, "uuid")
        ):
            # new_uuid() returns the UUID as a str: wrap it to keep uuid4()'s type.
            return lambda node: cst.Call(
                ctx_attr("uuid", "UUID"), [cst.Arg(cst.Call(ctx_attr(ctx_name, "new_uuid")))]
            )
        if not can_fix(cx):
            return None
        ctx = cx.ctx_name
        if qualname == "uuid.uuid4" and not call.args:
            return lambda node: node.with_changes(func=ctx_attr(ctx, "uuid"))
        if module == "random" and method in _RANDOM_METHODS:
            return lambda node: node.with_changes(
                func=cst.Attribute(cst.Call(ctx_attr(ctx, "random")), cst.Name(method))
            )
        return None


class HashOrId(CallRule):
    CODE = "ORC109"
    NAME = "hash-or-id"
    MESSAGE = "depends on the process: string hashes are salted per process and ids are addresses"
    HINT = "Use a stable key: the value itself, or hashlib over its bytes."
    RATIONALE = (
        "`hash()` of a str or bytes is randomised per process (PYTHONHASHSEED) and `id()` is a "
        "memory address. A bucket, order or branch computed from either differs when another "
        "process replays the orchestration."
    )
    CALLS = frozenset({"builtins.hash", "builtins.id"})
    VALID = (
        """\
import hashlib

from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    return int(hashlib.sha256(order["id"].encode()).hexdigest(), 16) % 8
""",
    )
    INVALID = (
        Invalid("""\
from orchestrate import OrchestrationContext

async def saga(ctx: OrchestrationContext, order: dict) -> int:
    shard = hash(order["id"]) % 8  # expect: ORC109
    return shard + id(order)  # expect: ORC109
"""),
    )
