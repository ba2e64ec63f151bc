"""Following helpers: from each orchestration, check every function it can call.

Breadth first, so each helper is checked once, with the shortest chain from an
orchestration (``order_saga -> price_for -> _now``). Helpers in other modules of the
project are parsed on demand through the ``ModuleLoader``; activities and other
orchestrations are not entered (the first is a finding of its own, the second is checked
as an entry in its own right).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import libcst as cst

from linter.checker import FunctionChecker, Hit
from linter.discovery import Entry, find_entries
from linter.modules import ModuleInfo, ModuleLoader
from linter.names import Scope
from linter.profiles import PROFILES
from linter.rules import RuleSet

__all__ = ["check_entries"]

_MAX_DEPTH = 25


def check_entries(
    entries: Iterable[tuple[ModuleInfo, Entry]],
    rules: RuleSet,
    loader: ModuleLoader,
    profiles: Iterable[str],
    extra_decorators: Iterable[str] = (),
) -> list[Hit]:
    """Check the orchestrations and everything they reach; return the rules' hits."""
    profiles = tuple(profiles)
    extra_decorators = tuple(extra_decorators)
    entry_cache: dict[int, frozenset[int]] = {}

    def is_entry(info: ModuleInfo, func: cst.FunctionDef) -> bool:
        ids = entry_cache.get(id(info))
        if ids is None:
            found = find_entries(info, profiles, extra_decorators)
            ids = frozenset(id(e.func) for e in found)
            entry_cache[id(info)] = ids
        return id(func) in ids

    queue: deque[
        tuple[
            ModuleInfo,
            cst.FunctionDef,
            cst.ClassDef | None,
            Scope,
            tuple[str, ...],
            frozenset[str],
            Entry,
        ]
    ] = deque()
    seen: set[int] = set()
    given: dict[int, set[int]] = {}
    for info, entry in entries:
        given.setdefault(id(info), set()).add(id(entry.func))
        seen.add(id(entry.func))
        ctx = frozenset({entry.ctx}) if entry.ctx else frozenset()
        queue.append(
            (
                info,
                entry.func,
                entry.cls,
                entry.parent_scope or info.scope,
                (entry.name,),
                ctx,
                entry,
            )
        )
    # The modules the entries came from were searched already: all their entries are given.
    entry_cache.update((key, frozenset(ids)) for key, ids in given.items())
    hits: list[Hit] = []
    while queue:
        info, func, cls, parent, chain, ctx_names, entry = queue.popleft()
        direct = func is entry.func
        checker = FunctionChecker(
            rules=rules,
            loader=loader,
            info=info,
            func=func,
            parent_scope=parent,
            cls=cls,
            chain=chain,
            profile=PROFILES[entry.profile],
            ctx_names=ctx_names,
            ctx_name=entry.ctx or "",
            direct=direct,
            is_async=entry.is_async,
        )
        checker.run()
        hits.extend(checker.hits)
        if len(chain) >= _MAX_DEPTH:
            continue
        for callee in checker.callees:
            if id(callee.func) in seen or is_entry(callee.info, callee.func):
                continue
            seen.add(id(callee.func))
            queue.append(
                (
                    callee.info,
                    callee.func,
                    callee.cls,
                    callee.parent_scope,
                    (*chain, callee.func.name.value),
                    callee.ctx_names,
                    entry,
                )
            )
    return hits
