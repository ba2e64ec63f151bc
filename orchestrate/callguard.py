"""The call guard: calls that break replay raise `NonDeterministicCallError` at the call.

While an `Execution` with a `Guard` steps its orchestration's coroutine (the live turn, a shadow
replay, a replay from scratch), orchestration code that reads the wall clock, a monotonic clock,
the `random` module's hidden generator, `uuid1`/`uuid4`, `os.urandom`/`secrets`, or that sleeps,
starts a thread, opens a file or a socket, gets an error naming the call, the orchestration, the
file:line and the `ctx` replacement, instead of a value that differs on the next replay.

How: `install()` replaces those module functions (``time.time``, ``random.random``, ...) once per
process with wrappers. A wrapper reads one thread-local flag: off (no step of a guarded execution
runs on this thread: activities, the runtime, other threads), it calls through to the function the
module holds; on, it refuses. The runtime's own work during a step (`ctx.log`, `ctx.side_effect`,
payload checks) pauses the flag or is recognised by the calling module, so only user code is
refused. Nothing is re-imported: the project's own modules that bound a function by name
(``from time import time``) before `install()` are rebound once (`guard_user_modules`), and a
module imported later binds the wrapper itself.

A freeze of the wall clock (freezegun, as the testkit uses) swaps ``time.time`` and friends for
its fakes and back; the wrappers call whatever the module holds now, and `resync` (run by the
testkit after each freeze starts or stops, and checked at every step) takes the module attribute
back, so the frozen clock is guarded too. Classes whose methods read the clock (freezegun's
`FakeDatetime`) are guarded with `guard_methods`. The real ``datetime.now()`` (a C type's
method) cannot be wrapped: when no frozen clock is in place (production workers,
``TestEnv(freeze_wall_clock=False)``), each step runs under a profile function (`watch`) that
refuses it; that costs more per step, and only then.
"""

from __future__ import annotations

import builtins
import datetime as _datetime
import functools
import io
import os
import random
import secrets
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

from .errors import NonDeterministicCallError

if TYPE_CHECKING:
    from .registry import Registry

__all__ = [
    "FLAG",
    "Guard",
    "guard_bindings",
    "guard_methods",
    "guard_registry",
    "guard_user_modules",
    "holders",
    "install",
    "installed",
    "paused",
    "replace",
    "resync",
    "unwatch",
    "watch",
]

# The fix each error names: one or two whole sentences, ending the message.


def _use(replacement: str) -> str:
    return f"Use {replacement} instead, or move the work into an activity."


_NOW = _use("ctx.now() (the recorded time of the turn)")
_DURATION = _use("ctx.now() (differences of ctx.now() for durations; a timer for timeouts)")
_TODAY = _use("ctx.now().date()")
_RANDOM = _use("ctx.random() (a random.Random seeded for the instance)")
_UUID = _use("ctx.uuid()")
_SECRET = ("Make the secret in an activity (ctx.activity), whose result the history records; "
           "or use ctx.random() if it need not be secret.")
_SLEEP = _use("await ctx.sleep(duration) (a durable timer)")
_THREAD = ("Run work at once as activities (ctx.all([ctx.activity(...), ...])); threads belong "
           "in activities.")
_FILE = ("Read or write files in an activity (ctx.activity): file access is I/O, and only an "
         "activity's result is recorded in the history.")
_SOCKET = ("Make network calls in an activity (ctx.activity): they are I/O, and only an "
           "activity's result is recorded in the history.")

_RANDOM_NAMES = (
    "betavariate", "choice", "choices", "expovariate", "gauss", "getrandbits", "lognormvariate",
    "normalvariate", "paretovariate", "randbytes", "randint", "random", "randrange", "sample",
    "shuffle", "triangular", "uniform", "vonmisesvariate", "weibullvariate",
)  # fmt: skip

# (module, attribute, what the error calls it, the replacement to name)
_FUNCTIONS: list[tuple[ModuleType, str, str, str]] = [
    (time, "time", "time.time", _NOW),
    (time, "time_ns", "time.time_ns", _NOW),
    (time, "monotonic", "time.monotonic", _DURATION),
    (time, "monotonic_ns", "time.monotonic_ns", _DURATION),
    (time, "perf_counter", "time.perf_counter", _DURATION),
    (time, "perf_counter_ns", "time.perf_counter_ns", _DURATION),
    (time, "sleep", "time.sleep", _SLEEP),
    (uuid, "uuid1", "uuid.uuid1", _UUID),
    (uuid, "uuid4", "uuid.uuid4", _UUID),
    (os, "urandom", "os.urandom", _SECRET),
    *[(secrets, n, f"secrets.{n}", _SECRET) for n in (
        "token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice")],
    *[(random, n, f"random.{n}", _RANDOM) for n in _RANDOM_NAMES],
    (builtins, "open", "open", _FILE),
    (io, "open", "io.open", _FILE),
]  # fmt: skip
# (class, method, what the error calls it, the replacement)
_METHODS: list[tuple[type, str, str, str]] = [
    (threading.Thread, "start", "threading.Thread.start", _THREAD),
    (socket.socket, "__init__", "socket.socket", _SOCKET),
]

# Calls made by these modules (the runtime, logging, tracebacks, test tooling) pass: they are
# not the orchestration's decisions. The user's own code calling a guarded function never does.
_EXEMPT = frozenset({
    "orchestrate", "testkit", "logging", "linecache", "tokenize", "traceback", "warnings",
    "inspect", "importlib", "freezegun", "hypothesis", "coverage", "_pytest", "pytest", "pluggy",
})  # fmt: skip
# Library frames between the user's call and the guarded one (a pathlib read, a socket helper):
# skipped when the error names the file:line of the call.
_LIBRARY = frozenset({"pathlib", "socket", "tempfile", "shutil", "uuid", "secrets", "random",
                      "threading", "concurrent.futures.thread", "os", "io", "time", "datetime"})


class _Flag(threading.local):
    active: Guard | None = None


FLAG = _Flag()
"""Per thread: the `Guard` of the execution whose step runs on this thread, or None."""


class Guard:
    """The guard of one execution: who is stepping (for the message) and the first refusal.

    Around each step of the coroutine the executor calls `check_clock`, sets `FLAG.active` to
    the guard (and back after), and `watch`es the step when the clock is real. A refused call
    sets `error` before raising it into the code, so a refusal the code swallows still counts.
    """

    __slots__ = ("error", "instance_id", "orchestration")

    def __init__(self, orchestration: str, instance_id: str) -> None:
        if not _WRAPPERS:
            install()
        self.orchestration = orchestration
        self.instance_id = instance_id
        self.error: NonDeterministicCallError | None = None

    @staticmethod
    def check_clock() -> bool:
        """Before a step: if someone (a clock freeze) swapped the module functions since, take
        them back (`resync`). One identity check when nothing changed. True when the real
        `datetime` class is in place (no frozen clock whose fakes are guarded): the step must
        then be watched for its C methods (`watch`)."""
        if time.time is not _GUARDED_TIME:
            resync()
        return _datetime.datetime is _REAL_DATETIME[0]


@contextmanager
def paused() -> Iterator[None]:
    """Turn the guard off for this thread inside the block (``ctx.side_effect``'s function, a
    log record): the runtime's own calls during a step."""
    flag = FLAG
    saved = flag.active
    flag.active = None
    try:
        yield
    finally:
        flag.active = saved


def _refuse(call: str, replacement: str, caller: FrameType) -> None:
    """Raise the error for `call`, unless the caller is exempt (see `_EXEMPT`)."""
    guard = FLAG.active
    if guard is None:
        return
    module = caller.f_globals.get("__name__") or ""
    if module.partition(".")[0] in _EXEMPT:
        return
    frame: FrameType | None = caller
    while frame is not None and frame.f_globals.get("__name__", "") in _LIBRARY:
        frame = frame.f_back
    where = frame or caller
    location = f"{_shown_path(where.f_code.co_filename)}:{where.f_lineno}"
    error = NonDeterministicCallError(
        f"{guard.orchestration} ({guard.instance_id}): orchestration code called {call}() at "
        f"{location}; its result (or effect) is not in the history, so a replay of this instance "
        f"would see another one and may take another path. {replacement} (The call guard stops "
        "such calls in TestEnv, and in Worker(guard_calls=True); TestEnv(..., guard_calls=False) "
        "turns it off.)"
    )
    if guard.error is None:
        guard.error = error
    raise error


def _shown_path(filename: str) -> str:
    """`filename` relative to the working directory when it is below it, else as it is: a
    basename alone is ambiguous (two packages' ``helpers.py``)."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith(os.pardir) else relative


# --- the real datetime's C methods: watched, since they cannot be wrapped ----------------------

# The real classes (even if imported under a freeze: a freeze's fakes subclass them).
_REAL_DATETIME = (
    next(c for c in _datetime.datetime.__mro__ if c.__module__ == "datetime"),
    next(c for c in _datetime.date.__mro__ if c.__module__ == "datetime"),
)
_DATETIME_READS = frozenset({"now", "utcnow", "today"})


def _watcher(frame: FrameType, event: str, arg: Any) -> None:
    """A profile function for one step: refuses the real ``datetime.now()`` & co. (a C call)."""
    if (
        event == "c_call"
        and getattr(arg, "__name__", "") in _DATETIME_READS
        and getattr(arg, "__self__", None) in _REAL_DATETIME
    ):
        owner = "date" if arg.__self__ is _REAL_DATETIME[1] else "datetime"
        replacement = _TODAY if owner == "date" else _NOW
        _refuse(f"{owner}.{arg.__name__}", replacement, frame)


def watch() -> Any:
    """Watch this thread's calls for the real ``datetime.now()``, ``utcnow()``, ``today()`` and
    ``date.today()`` (C methods no wrapper can replace) until `unwatch`; returns the profile
    function it displaces. Only while a step runs on the real clock: it slows the step down."""
    previous = sys.getprofile()
    sys.setprofile(_watcher)
    return previous


def unwatch(previous: Any) -> None:
    sys.setprofile(previous)


# --- the wrappers -------------------------------------------------------------------------------

_WRAPPERS: dict[tuple[int, str], Callable[..., Any]] = {}  # (id of module/class, name) -> wrapper
_TARGETS: list[tuple[Any, str, Callable[..., Any]]] = []  # (module, name, wrapper) to resync
_ORIGINALS: dict[int, Callable[..., Any]] = {}  # id of an original function -> its wrapper
_LOCK = threading.Lock()
_SCANNED: set[str] = set()  # modules `guard_bindings` went through
# registry -> how many orchestrations it had when `guard_registry` scanned their modules
_REGISTRIES: weakref.WeakKeyDictionary[Registry, int] = weakref.WeakKeyDictionary()


def _module_wrapper(module: ModuleType, name: str, call: str, replacement: str) -> Any:
    """A wrapper for ``module.name``: calls what the module holds now (a freeze's fake, if one
    replaced the attribute since), or the function it wrapped when the attribute is itself."""
    namespace = module.__dict__
    held = [namespace[name]]

    @functools.wraps(held[0])
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if FLAG.active is not None:
            _refuse(call, replacement, sys._getframe(1))
        current = namespace[name]
        return (held[0] if current is guarded else current)(*args, **kwargs)

    guarded.__dict__["_callguard_held"] = held
    guarded.__name__ = guarded.__qualname__ = name  # not a freeze's fake_time's, if frozen now
    return guarded


def _method_wrapper(method: Callable[..., Any], call: str, replacement: str) -> Any:
    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if FLAG.active is not None:
            _refuse(call, replacement, sys._getframe(1))
        return method(*args, **kwargs)

    return guarded


def install() -> None:
    """Put the wrappers in place (once per process; later calls do nothing)."""
    global _GUARDED_TIME
    with _LOCK:
        if _WRAPPERS:
            return  # a swap since is taken back before the next step (`check_clock`)
        for module, name, call, replacement in _FUNCTIONS:
            if not hasattr(module, name):
                continue
            original = getattr(module, name)
            wrapper = _module_wrapper(module, name, call, replacement)
            _WRAPPERS[id(module), name] = wrapper
            _TARGETS.append((module, name, wrapper))
            _ORIGINALS[id(original)] = wrapper
            setattr(module, name, wrapper)
        for cls, name, call, replacement in _METHODS:
            _guard_method(cls, name, call, replacement)
        _GUARDED_TIME = _WRAPPERS[id(time), "time"]
    guard_user_modules()


def installed() -> bool:
    return bool(_WRAPPERS)


def _guard_method(cls: type, name: str, call: str, replacement: str) -> None:
    if (id(cls), name) in _WRAPPERS:
        return
    raw = cls.__dict__[name]
    if isinstance(raw, classmethod):
        wrapper: Any = classmethod(_method_wrapper(raw.__func__, call, replacement))
    elif isinstance(raw, staticmethod):
        wrapper = staticmethod(_method_wrapper(raw.__func__, call, replacement))
    else:
        wrapper = _method_wrapper(raw, call, replacement)
    _WRAPPERS[id(cls), name] = wrapper
    setattr(cls, name, wrapper)


def guard_methods(
    cls: type, names: tuple[str, ...], replacement: str = _NOW, *, label: str | None = None
) -> None:
    """Guard the methods `names` of a Python class (e.g. freezegun's `FakeDatetime.now`), once;
    the error calls them ``label.name`` (default: the class's name)."""
    install()
    with _LOCK:
        for name in names:
            _guard_method(cls, name, f"{label or cls.__name__}.{name}", replacement)


def resync() -> None:
    """Take back module attributes someone replaced since (a freeze of the wall clock started
    or stopped): the wrapper goes back in place, calling through to what was put there."""
    with _LOCK:
        _resync_locked()


def _resync_locked() -> None:
    for module, name, wrapper in _TARGETS:
        current = module.__dict__.get(name)
        if current is not wrapper and current is not None:
            _hold(wrapper, current)
            setattr(module, name, wrapper)


def replace(module: ModuleType, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``module.name`` call `fn` (the testkit's reseeded `random` during replay checks),
    keeping it guarded; returns what it called before, to put back with another `replace`."""
    wrapper = _WRAPPERS.get((id(module), name))
    if wrapper is None or module.__dict__.get(name) is not wrapper:
        previous: Callable[..., Any] = getattr(module, name)
        setattr(module, name, fn)
        return previous
    held: Callable[..., Any] = wrapper.__dict__["_callguard_held"][0]
    _hold(wrapper, fn)
    return held


def _hold(wrapper: Any, fn: Callable[..., Any]) -> None:
    """Make `wrapper` call `fn`, and say so: ``__wrapped__`` (what `inspect.unwrap` and
    tracebacks' readers see) follows, so a wrapper installed under a clock freeze does not
    name the freeze's fake for ever after the freeze ended."""
    wrapper.__dict__["_callguard_held"][0] = fn
    wrapper.__wrapped__ = fn


def holders(module: ModuleType, names: tuple[str, ...]) -> list[list[Any]] | None:
    """For code that swaps several guarded functions often (the testkit's reseeded `random`,
    at every replay check): the one-item lists each wrapper of ``module.<name>`` calls through
    (``holder[0] = fn`` redirects it), or None unless every name is guarded in place now."""
    found: list[list[Any]] = []
    for name in names:
        wrapper = _WRAPPERS.get((id(module), name))
        if wrapper is None or module.__dict__.get(name) is not wrapper:
            return None
        found.append(wrapper.__dict__["_callguard_held"])
    return found


def guard_user_modules() -> None:
    """`guard_bindings` for every module already imported that is the project's own: not the
    standard library, not an installed package (site-packages), not the runtime or the test
    tooling. `install()` runs it once; modules imported later bind the wrappers themselves."""
    found = []
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in _EXEMPT or name in _SCANNED:
            continue
        path = getattr(module, "__file__", None) or ""
        if not path or "site-packages" in path or "dist-packages" in path:
            continue
        found.append(module)
    guard_bindings(found)


def guard_bindings(modules: list[ModuleType]) -> None:
    """Rebind names in `modules` that hold a guarded function imported before `install()`
    (``from random import random``) to its wrapper. One pass over each module's namespace,
    once per process."""
    install()
    for module in modules:
        if module.__name__ in _SCANNED:
            continue  # names are bound at import: one pass per module is enough
        _SCANNED.add(module.__name__)
        namespace = module.__dict__
        for name, value in list(namespace.items()):
            wrapper = _ORIGINALS.get(id(value))
            if wrapper is not None:
                namespace[name] = wrapper


_GUARDED_TIME: Any = None


def guard_registry(registry: Registry) -> None:
    """`install()`, and `guard_bindings` of the modules that define `registry`'s orchestrations."""
    install()
    count = len(registry.orchestrations)
    if _REGISTRIES.get(registry) == count:
        return  # its modules were scanned (a Worker or TestEnv per test: keep it cheap)
    _REGISTRIES[registry] = count
    names = {getattr(o.fn, "__module__", None) for o in registry.orchestrations.values()}
    guard_bindings([sys.modules[n] for n in sorted(filter(None, names)) if n in sys.modules])
