"""Properties that compare trials: crash transparency, and the tally of what a run explored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..timeline import abridge
from .choosers import ScheduleChooser, fault_free
from .config import FuzzConfig
from .schedule import ScheduleError
from .trial import Finding, Trial, TrialResult

__all__ = ["Tally", "crash_transparency"]


def crash_transparency(config: FuzzConfig, faulty: TrialResult) -> tuple[Finding, TrialResult] | None:
    """Run `faulty`'s decisions again without its crashes and duplicates (real-code results
    replaced by the values they gave), and compare: same status, output and history, or a
    finding (with the trial to report: the twin when the twin itself broke a property)."""
    schedule = faulty.schedule
    # The faulty run was replay-checked at every step; the twin only has to be run.
    twin = Trial(config, schedule.instance_id, schedule.input,
                 ScheduleChooser(fault_free(schedule.steps)), replay_check=False)
    try:
        clean = twin.run()
    except ScheduleError as exc:
        return Finding(
            "crash transparency",
            f"without the crashes and duplicate deliveries the same decisions take another "
            f"path: {exc}",
        ), faulty
    if clean.finding is not None:
        return clean.finding, clean
    problem = _difference(faulty, clean)
    if problem is None:
        return None
    return Finding(
        "crash transparency",
        "the crashes and duplicate deliveries in this schedule changed what the orchestration "
        f"did (the same decisions without them differ): {problem}. Orchestration code must not "
        "depend on how often or where a worker ran it: keep state in the history (ctx and "
        "activity results), and make activities idempotent (activity_info().idempotency_key).",
    ), faulty


def _difference(faulty: TrialResult, clean: TrialResult) -> str | None:
    if faulty.status != clean.status or faulty.output != clean.output:
        return (f"with them it ended {faulty.status} with {abridge(faulty.output)}, without them "
                f"{clean.status} with {abridge(clean.output)}")
    for key in sorted(set(faulty.histories) | set(clean.histories)):
        ours, theirs = faulty.histories.get(key, []), clean.histories.get(key, [])
        for index, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            if a != b:
                return (f"{key!r}'s history differs at event {index + 1}: with them "
                        f"{_brief(a)}, without them {_brief(b)}")
        if len(ours) != len(theirs):
            return (f"{key!r}'s history has {len(ours)} events with them and {len(theirs)} "
                    "without them")
    return None


def _brief(event: dict[str, Any]) -> str:
    return abridge(event, 120)


@dataclass
class Tally:
    """What a run explored, for the report."""

    examples: int = 0
    crashes: int = 0
    duplicates: int = 0
    longest: int = 0
    merged: int = 0
    endings: dict[str, int] = field(default_factory=dict)  # status -> examples that ended so
    errors: dict[str, int] = field(default_factory=dict)  # failure message -> examples
    first_turn_failures: int = 0  # failed before scheduling anything: usually a wrong input
    invariant_runs: int = 0  # examples in which the user's invariant was called
    unfinished: int = 0  # examples that ended still running (not merged): waiting for an event
    waits: dict[str, int] = field(default_factory=dict)  # what those waited on -> examples
    awaited_events: set[str] = field(default_factory=set)  # the event names among those waits
    _seen: set[int] = field(default_factory=set)
    samples: list[TrialResult] = field(default_factory=list)  # for the hash-seed replays

    def add(self, result: TrialResult, keep: int = 12) -> None:
        self.examples += 1
        self.crashes += result.crashes
        self.duplicates += result.duplicates
        self.longest = max(self.longest, result.history_length)
        self.merged += result.merged
        if not result.merged:  # a merged schedule stopped half-way: it did not end "running"
            status = str(result.status)
            self.endings[status] = self.endings.get(status, 0) + 1
        self.invariant_runs += result.invariant_ran
        if not result.status.finished and not result.merged:
            self.unfinished += 1
            for wait in result.waiting or ("nothing it can name",):
                self.waits[wait] = self.waits.get(wait, 0) + 1
            self.awaited_events.update(result.waiting_events)
        if result.error:
            self.errors[result.error] = self.errors.get(result.error, 0) + 1
            if result.history_length <= 2:
                self.first_turn_failures += 1
        signature = hash(repr(result.schedule.steps))  # steps are plain data: repr is stable
        if signature not in self._seen:
            self._seen.add(signature)
            if result.finding is None and not result.merged:
                self._keep(result, keep)

    def _keep(self, result: TrialResult, keep: int) -> None:
        """Keep the `keep` samples with the longest histories (they exercise the most code)."""
        self.samples.append(result)
        if len(self.samples) > keep:
            self.samples.sort(key=lambda r: -r.history_length)
            del self.samples[keep:]

    @property
    def schedules(self) -> int:
        return len(self._seen)

    def endings_note(self) -> str:
        """``ended: 28 completed, 2 failed (most often ActivityFailed: ...)``."""
        parts = [f"{count} {status}" for status, count in sorted(self.endings.items())]
        note = "ended: " + ", ".join(parts)
        if self.errors:
            common = max(self.errors, key=lambda e: self.errors[e])
            note += f" (most often {_cut(common)})"
        return note

    @property
    def checked(self) -> int:
        """Examples that ended where the invariant applies: finished (merged ones excluded)."""
        return self.examples - self.merged - self.unfinished

    def waits_note(self) -> str:
        """``event 'Approval' (18), event 'Cancel' (2)``: what unfinished examples waited on."""
        ranked = sorted(self.waits.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{wait} ({count})" for wait, count in ranked[:4])

    def invariant_note(self) -> str:
        """How many examples the invariant saw, when some ended where it does not run."""
        if not self.unfinished or not self.invariant_runs:
            return ""
        return (f"the invariant ran in {self.invariant_runs} of {self.examples} examples; "
                f"{self.unfinished} ended still waiting for {self.waits_note()}")

    def warning(self, input_given: bool) -> str:
        """A warning when the examples explored almost nothing (every one failed at once, or
        none finished)."""
        if self.examples and self.unfinished and not self.checked:
            return (f"warning: no example finished: each ended still waiting for "
                    f"{self.waits_note()}, so only the steps before the wait were explored; "
                    "list the events it waits for in events={...} to explore what follows")
        if not self.examples or self.first_turn_failures < self.examples:
            return ""
        common = max(self.errors, key=lambda e: self.errors[e])
        hint = ("pass input=... (or a FUZZ config for orch-fuzz)" if not input_given else
                "check that input= is what the orchestration expects")
        return (f"warning: every example failed in its first turn ({_cut(common)}), so almost "
                f"nothing was explored; {hint}")


def _cut(text: str, width: int = 90) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= width else line[: width - 3] + "..."
