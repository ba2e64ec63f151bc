"""Replay recorded histories in fresh interpreters under other ``PYTHONHASHSEED`` values.

The order of a set of strings (and of anything keyed by ``hash()`` of a string) is fixed for the
life of one interpreter and changes with the hash seed. An orchestration that iterates such a
set replays fine in the process that recorded it, and diverges on a worker started after a
deploy. Replaying in a child interpreter with another seed shows it.

The child is this module run as ``python -m testkit.hashseed``: it reads the orchestration
module's name and the histories (JSON) on stdin, imports that module (a module the parent
already imported, by its import name; nothing named inside a history is imported), finds the
registry that holds the orchestration, and replays each history strictly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from orchestrate import Registry, codec
from orchestrate import history as h

__all__ = ["HashSeedReplay", "home_module", "replay_under_hash_seeds"]

_TIMEOUT = 120.0


@dataclass
class HashSeedReplay:
    """What the child replays found: the seeds used, a note (e.g. why none ran), and the first
    divergence as (history index, hash seed, message)."""

    seeds: list[int] = field(default_factory=list)
    note: str = ""
    divergence: tuple[int, int, str] | None = None


def replay_under_hash_seeds(
    registry: Registry, histories: list[list[dict[str, Any]]], count: int, salt: int = 0
) -> HashSeedReplay:
    """Replay `histories` (event dicts) in `count` child interpreters with other hash seeds."""
    names = {str(events[0].get("name")) for events in histories if events}
    modules = sorted({home_module(registry, registry.get_orchestration(name).fn)
                      for name in names})
    if any(module == "__main__" for module in modules):
        return HashSeedReplay(note="hash-seed replays skipped: the orchestration is defined in "
                                   "__main__, which a fresh interpreter cannot import")
    base = int(os.environ.get("PYTHONHASHSEED", "0") or 0) if _seed_fixed() else None
    seeds = [_seed(salt, n, base) for n in range(count)]
    payload = json.dumps({"modules": modules, "histories": histories})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for hash_seed in seeds:
        env["PYTHONHASHSEED"] = str(hash_seed)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "testkit.hashseed"], input=payload, env=env,
                capture_output=True, text=True, timeout=_TIMEOUT, check=False,
            )
        except subprocess.TimeoutExpired:
            return HashSeedReplay(seeds, f"hash-seed replay timed out after {_TIMEOUT:.0f} s")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return HashSeedReplay(seeds, f"hash-seed replays skipped: the child interpreter "
                                         f"could not replay ({last})")
        answer = json.loads(done.stdout)
        if answer.get("diverged"):
            index, message = answer["diverged"]
            return HashSeedReplay(seeds, "", (int(index), hash_seed, str(message)))
    return HashSeedReplay(seeds)


def home_module(registry: Registry, fn: Any) -> str:
    """The module that holds `registry` at module level: the function's own module when it
    does (the usual case), else the first imported module that does (an orchestration built by
    a library, such as a `StateMachine`, has the library's module as its `__module__`)."""
    own = sys.modules.get(getattr(fn, "__module__", ""))
    if own is not None and any(v is registry for v in vars(own).values()):
        return own.__name__
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and any(v is registry for v in list(namespace.values())):
            return name
    return str(getattr(fn, "__module__", "__main__"))


def _seed_fixed() -> bool:
    value = os.environ.get("PYTHONHASHSEED", "random")
    return value.isdigit()


def _seed(salt: int, n: int, base: int | None) -> int:
    """A hash seed in 1..4294967295 that differs from the parent's when the parent's is fixed."""
    seed = (salt * 7919 + n * 104_729 + 1) % 4_294_967_295 + 1
    return seed + 1 if seed == base else seed


def _child() -> int:
    """The child side: replay what stdin holds, print ``{"diverged": [index, message]}``."""
    from importlib import import_module

    from testkit.replay_check import check_history

    request = json.loads(sys.stdin.read())
    registries: list[Registry] = []
    for name in request["modules"]:
        module = import_module(name)
        registries += [v for v in vars(module).values() if isinstance(v, Registry)]
    for index, events in enumerate(request["histories"]):
        history = [codec.event_from_dict(e, f"history {index}") for e in events]
        start = history[0]
        assert isinstance(start, h.OrchestrationStarted)
        registry = next(r for r in registries if start.name in r.orchestrations)
        problem = check_history(registry, start.name, start.instance_id, history)
        if problem is not None:
            print(json.dumps({"diverged": [index, str(problem)]}))
            return 0
    print(json.dumps({"diverged": None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
