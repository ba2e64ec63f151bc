"""What `fuzz` tells the user: a `FuzzReport` when every property held, a `FuzzFailure` when
one broke (the property, the divergence, the shrunk timeline, how to reproduce it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrate import InstanceState
from orchestrate.history import Event

from ..errors import TestkitError
from .schedule import Schedule

__all__ = ["CoverageGaps", "FuzzError", "FuzzFailure", "FuzzReport"]


@dataclass
class CoverageGaps:
    """Lines and branches of the orchestration's module that no example reached."""

    file: str
    lines: list[int] = field(default_factory=list)
    branches: list[tuple[int, int]] = field(default_factory=list)
    percent: float = 100.0

    def __str__(self) -> str:
        if not self.lines and not self.branches:
            return f"coverage of {self.file}: every line and branch of its functions was reached"
        parts = [f"coverage of {self.file}: {self.percent:.0f}% of its functions' lines "
                 "and branches reached"]
        if self.lines:
            parts.append(f"  lines never reached: {_ranges(self.lines)}")
        if self.branches:
            arcs = ", ".join(f"{a}->{b if b > 0 else 'exit'}" for a, b in self.branches)
            parts.append(f"  branches never taken: {arcs}")
        return "\n".join(parts)


@dataclass
class FuzzReport:
    """What a passing `fuzz` run did (every property held in every example)."""

    orchestration: str
    examples: int = 0
    schedules: int = 0  # distinct schedules (step sequences) run
    crashes: int = 0
    duplicates: int = 0
    longest_history: int = 0
    seconds: float = 0.0
    seed: int | None = None
    exhaustive: bool = False
    complete: bool | None = None  # exhaustive: every schedule covered (None: not exhaustive)
    merged: int = 0  # exhaustive: schedules cut short because their state was explored already
    hash_seeds: list[int] = field(default_factory=list)
    hash_note: str = ""
    endings: str = ""  # how the examples ended: "ended: 28 completed, 2 failed (...)"
    invariant_note: str = ""  # "the invariant ran in 12 of 20 examples; 8 ended waiting ..."
    warning: str = ""  # what makes this run say less than it seems to
    coverage: CoverageGaps | None = None

    @property
    def verdict(self) -> str:
        if not self.exhaustive:
            return (f"passed: {self.examples} examples, {self.schedules} distinct schedules, "
                    f"{self.crashes} crashes and {self.duplicates} duplicate deliveries injected")
        if self.complete:
            return (f"verified: all {self.schedules} schedules replay-safe and the invariant "
                    f"held ({self.merged} more merged into states already explored)")
        return (f"incomplete: stopped at max_schedules after {self.schedules} schedules; no "
                "counterexample among them")

    def __str__(self) -> str:
        lines = [f"{self.orchestration}: {self.verdict}",
                 f"  longest history {self.longest_history} events, {self.seconds:.2f} s"
                 + (f", seed {self.seed}" if self.seed is not None else "")]
        if self.endings:
            lines.append(f"  {self.endings}")
        if self.invariant_note:
            lines.append(f"  {self.invariant_note}")
        if self.warning:
            lines.append(f"  {self.warning}")
        if self.hash_seeds:
            lines.append("  replayed again under PYTHONHASHSEED="
                         + ", ".join(map(str, self.hash_seeds)))
        if self.hash_note:
            lines.append(f"  {self.hash_note}")
        if self.coverage is not None:
            lines.append(str(self.coverage))
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"result": "passed", "verdict": self.verdict, **asdict(self)},
                          indent=1, default=str)


class FuzzError(TestkitError, AssertionError):
    """The run could not check what it was asked to: an `invariant` was given, but no example
    ended where it runs (every one was still waiting for an event). Not a finding about the
    orchestration, but not a pass either: the message says what the examples waited for and
    which setting lets them finish. An `AssertionError`, so a test calling `fuzz` fails."""


class FuzzFailure(AssertionError):
    """A property broke. The message holds the property, what went wrong, the shrunk schedule
    as a timeline, and how to reproduce it; `schedule` re-runs it (`replay_schedule`)."""

    def __init__(
        self,
        prop: str,
        detail: str,
        schedule: Schedule,
        *,
        seed: int | None = None,
        timelines: str = "",
        reproduce: str = "",
        flaky: bool = False,
        instances: list[tuple[InstanceState, list[Event]]] | None = None,
    ) -> None:
        self.prop = prop
        # every instance's final state and history (for `html()`), when the fuzzer had them
        self.instances = instances or []
        self.detail = detail
        self.schedule = schedule
        self.seed = seed
        self.timelines = timelines
        self.flaky = flaky
        schedule.failure = prop
        schedule.seed = seed
        count = len(schedule.steps)
        parts = [
            f"{prop} broke for {schedule.orchestration}",
            detail.rstrip(),
            f"Shrunk schedule ({count} step{'' if count == 1 else 's'} after the start):\n"
            + schedule.timeline(),
        ]
        if timelines:
            parts.append(f"Histories at the end:\n{timelines}")
        if flaky:
            parts.append(
                "Note: this example did not fail again when Hypothesis re-ran it: the failure "
                "also depends on state that earlier runs left behind in the process (module or "
                "global state), which is usually the bug itself. In a fresh process, --replay "
                "with the saved schedule reproduces it."
            )
        if reproduce:
            parts.append(f"Reproduce:\n{reproduce}")
        super().__init__("\n\n".join(parts))

    def html(self) -> str:
        """The failure as one self-contained HTML page: this message, then every instance's
        timeline (`orch-fuzz --html`)."""
        from orchestrate.ui import timeline_document

        title = f"orch-fuzz: {self.prop} broke for {self.schedule.orchestration}"
        return timeline_document(self.instances, title=title, note=str(self))

    def to_json(self) -> dict[str, Any]:
        return {
            "result": "failed",
            "property": self.prop,
            "detail": self.detail,
            "seed": self.seed,
            "timeline": self.schedule.timeline().splitlines(),
            "schedule": json.loads(self.schedule.to_json()),
        }


def _ranges(numbers: list[int]) -> str:
    """``3-5, 9``: consecutive line numbers folded."""
    out: list[str] = []
    start = prev = None
    for n in sorted(numbers):
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(out)
