"""The orchestrate pytest plugin: fixtures, options, the orch marker, timelines in failure reports.

Thin on purpose (like Hypothesis' plugin): hooks and fixtures only, importing `testkit` lazily so
projects that never use it pay nothing at start-up; the logic lives in `testkit.recording`.

- after every test the wall-clock freeze a `TestEnv` holds is released (the real clock is back);
- fixtures ``orch_env`` (a fresh `TestEnv`), ``fake_clock`` (its `FakeClock`) and
  ``orch_registry`` (the test module's ``registry`` or ``reg``; override it to supply another);
- ``@pytest.mark.orch(start="2024-01-01T00:00:00Z", strict=True, ...)`` sets the env's options;
- ``--orch-record-histories DIR`` saves every history produced by passing tests, named by test id;
- ``--orch-replay DIR`` adds one test item per saved history, replayed against today's code
  with the registry named by ``--orch-replay-registry MODULE:ATTR`` (never by the files);
- ``orch_fuzz`` fuzzes an orchestration of the module's registry (`testkit.fuzz.fuzz`),
  with ``--orch-fuzz-examples N`` examples when given; a failure's shrunk schedule is shown in
  its own report section. Hypothesis profiles ``orchestrate-ci`` (derandomized, more examples)
  and ``orchestrate-dev`` (fast) are registered: ``--hypothesis-profile orchestrate-ci``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orchestrate import Registry
    from testkit import FakeClock, TestEnv
    from testkit.fuzz import FuzzReport

__all__ = [
    "ReplayItem",
    "fake_clock",
    "fuzz_examples",
    "orch_env",
    "orch_fuzz",
    "orch_registry",
]

RECORD_OPTION, RECORD_INI = "--orch-record-histories", "orch_record_histories"
REPLAY_OPTION, REPLAY_INI = "--orch-replay", "orch_replay"
REGISTRY_OPTION, REGISTRY_INI = "--orch-replay-registry", "orch_replay_registry"
FUZZ_OPTION, FUZZ_INI = "--orch-fuzz-examples", "orch_fuzz_examples"
HTML_OPTION, HTML_INI = "--orch-html", "orch_html"
MARKER = "orch"
SECTION = "orchestrate timelines"
FUZZ_SECTION = "orchestrate fuzz: shrunk schedule"


@dataclass(frozen=True)
class _Settings:
    record: Path | None
    replay: Path | None
    registry: str | None
    fuzz_examples: int | None
    html: Path | None = None


_SETTINGS = pytest.StashKey[_Settings]()
_ENVS = pytest.StashKey[list["TestEnv"]]()
_CALL_PASSED = pytest.StashKey[bool]()
_FUZZ_FAILURES = pytest.StashKey[list[Any]]()
_REPLAY_REGISTRY = pytest.StashKey["Registry"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orchestrate", "orchestrate: durable orchestration testing")
    group.addoption(
        RECORD_OPTION,
        dest=RECORD_INI,
        metavar="DIR",
        help="save every orchestration history produced by passing tests into DIR "
        f"(ini: {RECORD_INI})",
    )
    group.addoption(
        REPLAY_OPTION,
        dest=REPLAY_INI,
        metavar="DIR",
        help="add one test per history saved in DIR, replayed against today's code "
        f"(ini: {REPLAY_INI})",
    )
    group.addoption(
        REGISTRY_OPTION,
        dest=REGISTRY_INI,
        metavar="MODULE:ATTR",
        help="the Registry to replay --orch-replay histories with; required with it, since a "
        f"history file is data and never names code to import (ini: {REGISTRY_INI})",
    )
    group.addoption(
        FUZZ_OPTION,
        dest=FUZZ_INI,
        metavar="N",
        help=f"examples per orchestration fuzz test (ini: {FUZZ_INI})",
    )
    group.addoption(
        HTML_OPTION,
        dest=HTML_INI,
        metavar="DIR",
        help="for each failed test, write an HTML timeline per failing instance (and the "
        f"fuzzer's finding) into DIR (ini: {HTML_INI})",
    )
    for ini, text in (
        (RECORD_INI, "directory to save orchestration histories in"),
        (REPLAY_INI, "directory of saved histories to replay"),
        (REGISTRY_INI, "MODULE:ATTR of the Registry used to replay histories"),
        (FUZZ_INI, "examples per orchestration fuzz test"),
        (HTML_INI, "directory for failed tests' HTML timelines"),
    ):
        parser.addini(ini, text, default=None)


def _value(config: pytest.Config, name: str) -> str | None:
    given = config.getoption(name)
    if given is None:
        given = config.getini(name)
    return str(given) if given not in (None, "") else None


def _settings(config: pytest.Config) -> _Settings:
    record = _value(config, RECORD_INI)
    if record is not None and Path(record).exists() and not Path(record).is_dir():
        raise pytest.UsageError(
            f"{RECORD_OPTION} {record}: this is a file; give a directory (created if missing)"
        )
    replay = _value(config, REPLAY_INI)
    if replay is not None and not Path(replay).exists():
        raise pytest.UsageError(
            f"{REPLAY_OPTION} {replay}: no such directory or file; record histories first "
            f"with {RECORD_OPTION} DIR or `orchestrate export-history`"
        )
    registry = _value(config, REGISTRY_INI)
    if registry is not None and ":" not in registry:
        raise pytest.UsageError(
            f"{REGISTRY_OPTION} {registry!r}: expected MODULE:ATTR, e.g. myapp.workflows:registry"
        )
    if replay is not None and registry is None:
        raise pytest.UsageError(
            f"{REPLAY_OPTION} {replay}: name the Registry to replay with, e.g. "
            f"{REGISTRY_OPTION} myapp.workflows:registry (ini: {REGISTRY_INI}); it is never "
            "taken from the history files, which are data"
        )
    fuzz = _value(config, FUZZ_INI)
    examples: int | None = None
    if fuzz is not None:
        try:
            examples = int(fuzz)
        except ValueError:
            examples = 0
        if examples < 1:
            raise pytest.UsageError(
                f"{FUZZ_OPTION} {fuzz!r}: expected a positive whole number, e.g. {FUZZ_OPTION} 200"
            )
    html = _value(config, HTML_INI)
    if html is not None and Path(html).exists() and not Path(html).is_dir():
        raise pytest.UsageError(
            f"{HTML_OPTION} {html}: this is a file; give a directory (created if missing)"
        )
    return _Settings(
        Path(record) if record else None,
        Path(replay) if replay else None,
        registry,
        examples,
        Path(html) if html else None,
    )


@pytest.hookimpl(tryfirst=True)  # before Hypothesis' plugin loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(start=..., strict=..., replay_check=..., evict_every_turn=..., "
        "freeze_wall_clock=..., max_turns=..., guard_calls=..., store=...): options for the "
        "orch_env fixture's TestEnv",
    )
    config.stash[_SETTINGS] = _settings(config)
    try:
        from testkit.fuzz.profiles import register_profiles
    except ImportError:  # the testkit extra (Hypothesis) is not installed: no fuzzing anyway
        return
    register_profiles()


def fuzz_examples(config: pytest.Config) -> int | None:
    """The ``--orch-fuzz-examples`` value (None when not given), for the fuzzer."""
    return config.stash[_SETTINGS].fuzz_examples


def _marker_options(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARKER))):  # the closest marker wins
        if mark.args:
            raise pytest.UsageError(
                f"{node.nodeid}: @pytest.mark.{MARKER} takes keyword arguments only, "
                f"e.g. @pytest.mark.{MARKER}(start='2024-01-01T00:00:00Z')"
            )
        options.update(mark.kwargs)
    return options


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for item in items:
        options = _marker_options(item)
        if options:
            from testkit.recording import check_env_options

            try:
                check_env_options(options)
            except ValueError as exc:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER}: {exc}") from None
    settings = config.stash[_SETTINGS]
    replay = settings.replay
    if replay is not None:
        from testkit.recording import history_files, registry_for_history

        try:  # once, here: a bad reference is one usage error, not one failure per history
            config.stash[_REPLAY_REGISTRY] = registry_for_history(replay, settings.registry)
        except LookupError as exc:
            raise pytest.UsageError(f"{REGISTRY_OPTION} {settings.registry}: {exc}") from None
        for path in history_files(replay):
            items.extend(ReplayFile.from_parent(session, path=path).collect())


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def orch_registry(request: pytest.FixtureRequest) -> Registry:
    """The test module's ``registry`` (or ``reg``); override this fixture to supply another."""
    from testkit.recording import find_module_registry

    found = find_module_registry(request.module)
    if found is None:
        pytest.fail(
            f"orch_env needs a Registry: define `registry = Registry()` (or `reg`) in "
            f"{request.path.name}, or override the `orch_registry` fixture",
            pytrace=False,
        )
    return found


@pytest.fixture
def fake_clock(request: pytest.FixtureRequest) -> FakeClock:
    """The virtual clock of the test (the orch marker's ``start``, else 2024-01-01T00:00:00Z)."""
    from testkit import FakeClock

    start = _marker_options(request.node).get("start")
    try:
        return FakeClock(start) if start is not None else FakeClock()
    except (TypeError, ValueError) as exc:
        pytest.fail(f"@pytest.mark.{MARKER}: {exc}", pytrace=False)


@pytest.fixture
def orch_env(
    request: pytest.FixtureRequest, orch_registry: Registry, fake_clock: FakeClock
) -> Iterator[TestEnv]:
    """A fresh `TestEnv` on `fake_clock`; its timelines are shown if the test fails."""
    from testkit.recording import make_env, record_env, registry_reference

    env = make_env(orch_registry, fake_clock, _marker_options(request.node))
    request.node.stash.setdefault(_ENVS, []).append(env)
    yield env
    env.close()
    directory = request.config.stash[_SETTINGS].record
    if directory is not None and request.node.stash.get(_CALL_PASSED, False):
        reference = registry_reference(orch_registry, request.module)
        record_env(env, directory, request.node.nodeid, reference)


@pytest.fixture
def orch_fuzz(
    request: pytest.FixtureRequest, orch_registry: Registry
) -> Callable[..., FuzzReport]:
    """``orch_fuzz(order_saga, input=..., outcomes=..., invariant=...)``: `testkit.fuzz.fuzz`
    on the module's registry (``registry=`` to pass another), with ``--orch-fuzz-examples``."""
    from testkit.fuzz import FuzzFailure, fuzz

    examples = fuzz_examples(request.config)

    def run(orchestration: Any, **options: Any) -> FuzzReport:
        if examples is not None:
            options.setdefault("max_examples", examples)
        registry = options.pop("registry", orch_registry)
        try:
            return fuzz(registry, orchestration, **options)
        except FuzzFailure as failure:
            request.node.stash[_FUZZ_FAILURES] = [failure]
            raise

    return run


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """After every test, give the wall clock back: a `TestEnv` holds its freeze between drive
    calls (see `testkit.wall_clock`), and a test may not have closed its envs."""
    try:
        return (yield)
    finally:
        loaded = sys.modules.get("testkit.wall_clock")  # never imported here just for this
        if loaded is not None:
            loaded.release()


# --- reports ------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    envs = item.stash.get(_ENVS, None)
    if report.failed and report.when == "call" and envs:
        text = "\n\n".join(env.timelines(limit=60) for env in envs).strip()
        if text:
            report.sections.append((SECTION, text))
    failures = item.stash.get(_FUZZ_FAILURES, None)
    if report.failed and report.when == "call" and failures:
        for failure in failures:
            report.sections.append((FUZZ_SECTION, failure.schedule.timeline()))
    html = item.config.stash[_SETTINGS].html
    if report.failed and report.when == "call" and html is not None and (envs or failures):
        _write_html(html, item.nodeid, envs or [], failures or [])
    return report


def _write_html(directory: Path, test_id: str, envs: list[TestEnv], failures: list[Any]) -> None:
    from testkit.html_report import file_name, write_failure_html

    for env in envs:
        write_failure_html(env, directory, test_id)
    for failure in failures:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / file_name(test_id, "fuzz")).write_text(failure.html(), encoding="utf-8")


# --- one item per saved history -------------------------------------------------------------------


class ReplayFile(pytest.File):
    """A saved history file given with ``--orch-replay``."""

    def collect(self) -> Iterator[pytest.Item]:
        yield ReplayItem.from_parent(self, name="replay")


class ReplayItem(pytest.Item):
    """Replays one saved history against today's code; fails with the divergence."""

    def runtest(self) -> None:
        from testkit import replay_history

        replay_history(self.config.stash[_REPLAY_REGISTRY], self.path)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from orchestrate import OrchestrateError

        error = excinfo.value
        if isinstance(error, (OrchestrateError, LookupError, ValueError, OSError)):
            return f"{self.path}: {type(error).__name__}: {error}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"replay of {self.path.name}"
