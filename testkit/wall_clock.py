"""Freeze the wall clock as freezegun does, without its walk over every loaded module per start.

`freezegun.freeze_time(...).start()` checks every module in ``sys.modules`` for bindings of the real
time objects (``from time import time``, ``from datetime import datetime``...) each time it starts,
~1 ms with a few hundred modules, and TestEnv freezes once per drive call. `freeze` does the same
job with freezegun's own fakes and state (its ``FakeDatetime``, ``fake_time``..., its stacks of
factories), so freezegun freezes inside or around ours keep working, but remembers where the
bindings are: a start re-scans a module only when it is new or its ``__dict__`` changed size.

If freezegun lacks an internal this relies on (a future version), `freeze` falls back to plain
``freezegun.freeze_time``: slow but correct.
"""

from __future__ import annotations

import copyreg
import datetime as _datetime
import sys
import time as _time
import uuid
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

__all__ = ["Freeze", "freeze"]

# Nothing in this module binds a real time object at module level (they live in _Freezegun's
# fields), so freezegun's own scan, and ours, has nothing to patch here.

_MISSING: Any = object()
_NO_ATTRIBUTES: dict[str, Any] = {}  # the "dict" of an entry without one: its size never changes
_REQUIRED_TIME = ("time", "monotonic", "perf_counter", "localtime", "gmtime", "strftime")
_OPTIONAL_TIME = ("time_ns", "monotonic_ns", "perf_counter_ns", "clock")
_STACKS = ("freeze_factories", "tz_offsets", "ignore_lists", "tick_flags")
_NEVER_PATCHED = ("datetime", "time")  # modules patched by name, never scanned (as freezegun)


class Freeze(Protocol):
    """An active freeze: `factory` is freezegun's time factory (its ``time_to_freeze`` can move)."""

    factory: Any

    def stop(self) -> None:
        """End this freeze; the outermost one puts every real time object back."""


def freeze(moment: _datetime.datetime) -> Freeze:
    """Freeze the wall clock at `moment` (aware) until the returned freeze's `stop()`.

    Inside an active freezegun freeze (ours or a user's) this only pushes onto freezegun's stacks,
    so the newest freeze's time wins and nothing is patched twice.
    """
    gun = _freezegun()
    if gun is None:
        return _Fallback(moment)
    return _Fast(gun, moment)


@dataclass(frozen=True, eq=False)
class _Freezegun:
    """The freezegun internals `freeze` uses, looked up once per process."""

    api: ModuleType
    config: ModuleType
    stacks: tuple[list[Any], list[Any], list[Any], list[Any]]
    factory_class: Any
    fixed: tuple[tuple[dict[str, Any], str, Any], ...]  # (module's dict, name, value while frozen)
    # `fixed` per module: (its dict, the names, their values while frozen, a _MISSING per name)
    fixed_groups: tuple[
        tuple[dict[str, Any], tuple[str, ...], dict[str, Any], tuple[Any, ...]], ...
    ]
    pickles: tuple[tuple[Any, Any], ...]  # (real class, freezegun's pickle function for its fake)
    fakes: dict[int, Any] = field(default_factory=dict)  # id(real) -> its fake
    reals: dict[int, Any] = field(default_factory=dict)  # id(fake) -> its real
    fake_names: frozenset[str] = frozenset()  # names of the fakes, left alone when restoring

    def ignore(self) -> tuple[str, ...]:
        """freezegun's current default ignore list (`freezegun.configure` may change it)."""
        return tuple(self.config.settings.default_ignore_list or ())


_LOADED: list[_Freezegun | None] = []  # empty until looked up


def _freezegun() -> _Freezegun | None:
    """freezegun's internals, or None if this version lacks one of them."""
    if not _LOADED:
        _LOADED.append(_load())
    return _LOADED[0]


def _load() -> _Freezegun | None:
    import freezegun.api as api
    import freezegun.config as config

    def pair(module: ModuleType, name: str, required: bool) -> tuple[str, Any, Any] | None:
        real = getattr(api, f"real_{name}", None)
        fake = getattr(api, f"fake_{name}", None)
        if real is None or fake is None or getattr(module, name, None) is None:
            if required:
                raise LookupError(name)
            return None
        return name, real, fake

    try:
        stacks = tuple(getattr(api, name) for name in _STACKS)
        functions = [pair(_time, name, True) for name in _REQUIRED_TIME]
        functions += [pair(_time, name, False) for name in _OPTIONAL_TIME]
        classes = (
            ("datetime", api.real_datetime, api.FakeDatetime),
            ("date", api.real_date, api.FakeDate),
        )
        pickles = (
            (api.real_datetime, api.pickle_fake_datetime),
            (api.real_date, api.pickle_fake_date),
        )
        uuid_attribute = api.uuid_generate_time_attr
        factory_class = api.FrozenDateTimeFactory
        config.settings.default_ignore_list  # noqa: B018  (must exist)
    except (AttributeError, LookupError):
        return None
    if not all(isinstance(stack, list) for stack in stacks) or len(stacks) != 4:
        return None
    found = tuple(f for f in functions if f is not None)
    everything = classes + found
    fixed: list[tuple[dict[str, Any], str, Any]] = [
        (vars(_datetime), name, fake) for name, _, fake in classes
    ]
    fixed += [(vars(_time), name, fake) for name, _, fake in found]
    if isinstance(uuid_attribute, str):
        fixed.append((vars(uuid), uuid_attribute, None))  # uuid1 then reads time.time_ns: frozen
    fixed.append((vars(uuid), "_UuidCreate", None))
    return _Freezegun(
        api=api,
        config=config,
        stacks=(stacks[0], stacks[1], stacks[2], stacks[3]),
        factory_class=factory_class,
        fixed=tuple(fixed),
        fixed_groups=_grouped(fixed),
        pickles=pickles,
        fakes={id(real): fake for _, real, fake in everything},
        reals={id(fake): real for _, real, fake in everything},
        fake_names=frozenset(getattr(fake, "__name__", "") for _, _, fake in everything),
    )


def _grouped(
    fixed: list[tuple[dict[str, Any], str, Any]],
) -> tuple[tuple[dict[str, Any], tuple[str, ...], dict[str, Any], tuple[Any, ...]], ...]:
    """`fixed` grouped per module dict, in first-seen order (see `_Freezegun.fixed_groups`)."""
    groups: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for namespace, name, value in fixed:
        groups.setdefault(id(namespace), (namespace, {}))[1][name] = value
    return tuple(
        (namespace, tuple(values), values, (_MISSING,) * len(values))
        for namespace, values in groups.values()
    )


# --- where the real time objects are bound ---------------------------------------------------------


@dataclass(eq=False)
class _Scanned:
    """One module's scan: the attributes holding real time objects when its dict had `size` keys."""

    module: object
    namespace: dict[str, Any]
    size: int
    attributes: tuple[str, ...]
    plain: bool = True  # a plain module: setting an attribute is setting it in its dict
    reals: tuple[Any, ...] = ()  # what each attribute held when scanned


# One binding: (module, its dict, attribute, plain module, the real object when scanned, its fake)
_Target = tuple[object, dict[str, Any], str, bool, Any, Any]


@dataclass(eq=False)
class _Bindings:
    """Where the real time objects are bound across ``sys.modules``, as of the last check.

    `modules` and `sizes` are what a start compares against (two C-level list comparisons) to know
    nothing changed; only when something did are the new or resized modules scanned again.
    """

    ignore: tuple[str, ...] = ()
    modules: list[object] = field(default_factory=list)  # sys.modules' values, in order
    namespaces: list[dict[str, Any]] = field(default_factory=list)  # their __dict__s
    sizes: list[int] = field(default_factory=list)  # len() of each
    targets: list[_Target] = field(default_factory=list)
    scans: dict[int, _Scanned] = field(default_factory=dict)  # by id(module)
    ignored: dict[str, bool] = field(default_factory=dict)  # by sys.modules key

    def current(
        self, gun: _Freezegun, modules: list[object], ignore: tuple[str, ...]
    ) -> list[_Target]:
        """The bindings to patch, rescanning what changed."""
        if ignore != self.ignore:
            self.ignore, self.ignored = ignore, {}
        elif modules == self.modules and list(map(len, self.namespaces)) == self.sizes:
            return self.targets
        self._rebuild(gun)
        return self.targets

    def _rebuild(self, gun: _Freezegun) -> None:
        scans: dict[int, _Scanned] = {}
        modules: list[object] = []
        targets: list[_Target] = []
        for name, module in list(sys.modules.items()):
            scan = self.scans.get(id(module))
            if scan is None or scan.module is not module or len(scan.namespace) != scan.size:
                scan = _scan(gun, module)
            scans[id(module)] = scan
            modules.append(module)
            if scan.attributes and not self._ignored(name):
                targets += [
                    (module, scan.namespace, a, scan.plain, real, gun.fakes[id(real)])
                    for a, real in zip(scan.attributes, scan.reals, strict=True)
                ]
        self.scans, self.modules, self.targets = scans, modules, targets
        self.namespaces = [scans[id(module)].namespace for module in modules]
        self.sizes = [scans[id(module)].size for module in modules]

    def _ignored(self, name: str) -> bool:
        ignored = self.ignored.get(name)
        if ignored is None:
            ignored = _is_ignored(name, self.ignore)
            self.ignored[name] = ignored
        return ignored


def _is_ignored(name: object, ignore: tuple[str, ...]) -> bool:
    """freezegun's rule for a sys.modules key: its ignore prefixes, and six's lazy moves."""
    return not isinstance(name, str) or name.startswith(ignore) or name.endswith(".six.moves")


def _namespace(module: object) -> dict[str, Any] | None:
    """A module's ``__dict__`` if it is a module freezegun would patch, else None."""
    try:
        namespace = vars(module)
    except TypeError:  # no __dict__: nothing bound in it
        return None
    name = namespace.get("__name__") if isinstance(namespace, dict) else None
    if name is None:
        with warnings.catch_warnings():  # a lazy module's __getattr__ may warn: hush, as freezegun
            warnings.simplefilter("ignore")
            try:
                name = getattr(module, "__name__", None)
            except Exception:
                return None
    if name is None or name in _NEVER_PATCHED:
        return None
    return namespace if isinstance(namespace, dict) else None


def _scan(gun: _Freezegun, module: object) -> _Scanned:
    namespace = None if module is gun.api else _namespace(module)
    if namespace is None:
        return _Scanned(module, _NO_ATTRIBUTES, 0, ())
    fakes = gun.fakes
    while True:
        size = len(namespace)
        try:
            found = [(name, value) for name, value in namespace.items() if id(value) in fakes]
        except RuntimeError:  # the dict changed under us (another thread importing): again
            continue
        names = tuple(name for name, _ in found)
        reals = tuple(value for _, value in found)
        return _Scanned(module, namespace, size, names, type(module) is ModuleType, reals)


_BINDINGS = _Bindings()


# --- one freeze ------------------------------------------------------------------------------------


class _Patch:
    """The changes made by an outermost freeze, undone when the last of our freezes stops."""

    def __init__(self, gun: _Freezegun) -> None:
        self._gun = gun
        self._modules: list[object] = list(sys.modules.values())  # to spot imports meanwhile
        self._fixed: list[tuple[Any, ...]] = []  # per fixed group: the values before
        self._targets: list[_Target] = []  # the bindings patched as scanned (undo: put `real`)
        self._odd: list[tuple[_Target, Any]] = []  # the others patched: (binding, value before)
        self._pickles: list[tuple[Any, Any]] = []  # (real class, copyreg's entry before)

    def apply(self, ignore: tuple[str, ...]) -> None:
        """Put freezegun's fakes in `datetime`, `time`, uuid, copyreg and every module's bindings."""
        gun = self._gun
        for namespace, names, values, missing in gun.fixed_groups:
            self._fixed.append(tuple(map(namespace.get, names, missing)))
            namespace.update(values)
        uuid._last_timestamp = None  # type: ignore[attr-defined]  # its last uuid1 time: forget it
        table = copyreg.dispatch_table
        for real, pickle in gun.pickles:  # a FakeDatetime pickles as one
            self._pickles.append((real, table.get(real, _MISSING)))
            table[real] = pickle
        self._bind(_BINDINGS.current(gun, self._modules, ignore))

    def _bind(self, targets: list[_Target]) -> None:
        """Patch every binding still holding a real time object (as scanned, the usual case, or
        another one since); `_odd` keeps what the others held, for `undo`."""
        odd: list[_Target] = []
        for target in targets:
            _, namespace, attr, plain, real, fake = target
            if plain and namespace.get(attr) is real:
                namespace[attr] = fake
            else:
                odd.append(target)
        if not odd:
            self._targets = targets
            return
        odd_ids = {id(target) for target in odd}
        self._targets = [target for target in targets if id(target) not in odd_ids]
        for target in odd:
            self._bind_odd(target)

    def _bind_odd(self, target: _Target) -> None:
        """Patch a binding of a module-like object, or one rebound since the scan (or skip it)."""
        module, namespace, attr, plain, _, _ = target
        before = namespace.get(attr)
        fake = self._gun.fakes.get(id(before))
        if fake is None:  # rebound since the scan, or an alias already patched
            return
        if plain:
            namespace[attr] = fake
        else:
            try:
                setattr(module, attr, fake)
            except (AttributeError, TypeError):  # a read-only module-like object: keeps it
                return
        self._odd.append((target, before))

    def undo(self, keep_pickles: bool = False) -> None:
        """Undo exactly the changes `apply` made, then un-fake the modules imported meanwhile.

        `keep_pickles` leaves copyreg's entries for a freezegun freeze still running (one started
        inside ours and stopped after it): its own stop removes them.
        """
        for (module, namespace, attr, plain, _, _), before in reversed(self._odd):
            if plain:
                namespace[attr] = before
            else:
                setattr(module, attr, before)
        for _, namespace, attr, _, real, _ in self._targets:
            namespace[attr] = real
        self._restore_fixed()
        self._targets, self._odd = [], []
        uuid._last_timestamp = None  # type: ignore[attr-defined]
        table = copyreg.dispatch_table
        for real, before in reversed(self._pickles):
            if keep_pickles:
                break
            if before is _MISSING:
                table.pop(real, None)
            else:
                table[real] = before
        self._pickles = []
        if list(sys.modules.values()) != self._modules:
            self._restore_new_modules()

    def _restore_fixed(self) -> None:
        """Put back the values `apply` found in `datetime`, `time` and uuid."""
        groups = self._gun.fixed_groups
        # not strict: an `apply` that failed part-way recorded only the groups it patched
        for (namespace, names, _, _), before in zip(groups, self._fixed, strict=False):
            if _MISSING not in before:  # as `apply` found them all: restore them all at once
                namespace.update(zip(names, before, strict=True))
                continue
            for name, value in zip(names, before, strict=True):
                if value is _MISSING:  # uuid._UuidCreate on a Python without it
                    namespace.pop(name, None)
                else:
                    namespace[name] = value
        self._fixed = []

    def _restore_new_modules(self) -> None:
        """Give modules imported during the freeze the real objects for the fakes they bound."""
        _unfake_modules(self._gun, {id(module) for module in self._modules})


def _unfake_modules(gun: _Freezegun, skip: set[int]) -> None:
    """Give every module not in `skip` (ids) the real objects for the fakes it binds."""
    ignore = gun.ignore()
    for name, module in list(sys.modules.items()):
        if id(module) in skip or module is gun.api or _is_ignored(name, ignore):
            continue
        namespace = _namespace(module)
        if namespace is None:
            continue
        for attr, value in list(namespace.items()):
            real = gun.reals.get(id(value))
            if real is not None and attr not in gun.fake_names:
                setattr(module, attr, real)


def _real_time(gun: _Freezegun) -> bool:
    """Whether `datetime.datetime` is the real class (no freezegun patch is in place)."""
    return vars(_datetime).get("datetime") is gun.api.real_datetime


def _unfake_all(gun: _Freezegun) -> None:
    """Put the real time objects back everywhere once no freeze is left on the stacks.

    Needed only after a freezegun freeze around one of ours was stopped first: freezegun then kept
    its patches (ours was still on its stack), and its fakes fail once the stacks are empty.
    """
    for namespace, attr, _ in gun.fixed:
        real = gun.reals.get(id(namespace.get(attr)))
        if real is not None:  # datetime and time (uuid's hooks, set to None, are harmless)
            namespace[attr] = real
    table = copyreg.dispatch_table
    for real, pickle in gun.pickles:
        if table.get(real) is pickle:
            del table[real]
    _unfake_modules(gun, set())


_PATCH: list[_Patch] = []  # the active patch, while any of our freezes needs it
_LIVE: list[object] = []  # the factories of our freezes not yet stopped


class _Fast:
    """A freeze through freezegun's own fakes and stacks; see `freeze`."""

    def __init__(self, gun: _Freezegun, moment: _datetime.datetime) -> None:
        offset = moment.utcoffset()
        if offset is None:
            raise ValueError(f"freeze needs an aware time, not {moment!r}")
        self._gun = gun
        self.factory: Any = gun.factory_class((moment - offset).replace(tzinfo=None))
        factories, offsets, ignores, ticks = gun.stacks
        outermost = not factories and not _PATCH  # else freezegun, or one of ours, has patched
        factories.append(self.factory)
        offsets.append(_datetime.timedelta(0))
        ignore = gun.ignore()
        ignores.append(ignore)
        ticks.append(False)
        _LIVE.append(self.factory)
        if outermost:
            patch = _Patch(gun)
            _PATCH.append(patch)
            try:
                patch.apply(ignore)
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """Pop this freeze; the last of ours to stop undoes the outermost one's patch."""
        stacks = self._gun.stacks
        factories = stacks[0]
        for index in range(len(factories) - 1, -1, -1):  # by identity: safe out of order
            if factories[index] is self.factory:
                break
        else:
            # Gone: a freezegun freeze around ours stopped first and, popping the top as freezegun
            # does, took ours. Pop the top in turn (its entry), so that two starts and two stops
            # still leave no freeze behind, as with freezegun alone.
            index = len(factories) - 1
        if index >= 0:
            for stack in stacks:
                del stack[index]
        for index, factory in enumerate(_LIVE):
            if factory is self.factory:
                del _LIVE[index]
                break
        if _PATCH and not any(f is g for f in factories for g in _LIVE):
            _PATCH.pop().undo(keep_pickles=bool(factories))
        elif not factories and not _PATCH and not _real_time(self._gun):
            _unfake_all(self._gun)  # the last freeze is gone, but someone's patch is still in


class _Fallback:
    """Plain ``freezegun.freeze_time``, for a freezegun whose internals `_Fast` does not know."""

    def __init__(self, moment: _datetime.datetime) -> None:
        import freezegun

        self._freezer = freezegun.freeze_time(moment)
        self.factory: Any = self._freezer.start()

    def stop(self) -> None:
        """Stop the freezegun freeze."""
        self._freezer.stop()
