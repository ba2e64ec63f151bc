"""The replay-safety fuzzer: explore the schedules of an orchestration and check each one.

``fuzz(reg, orch, input=..., outcomes=..., events=..., invariant=...)`` lets Hypothesis choose
the order in which pending activities, timers and events complete, the outcome of every
activity execution, worker crashes around commits and duplicate deliveries; every step is
replay-checked in a perturbed world (wall and monotonic clocks shifted, `random` reseeded), runs
with faults must reach what the same run without them reaches, the instance must make progress,
and the user's invariant must hold. A failure raises `FuzzFailure` with the shrunk schedule as a
timeline and how to reproduce it; ``exhaustive=True`` enumerates every schedule of a small
orchestration instead. ``orch-fuzz`` (`testkit.fuzz.cli`) is the command line.
"""

from .profiles import register_profiles
from .report import CoverageGaps, FuzzError, FuzzFailure, FuzzReport
from .runner import fuzz, replay_schedule
from .schedule import Schedule, ScheduleError, Step

__all__ = [
    "CoverageGaps",
    "FuzzError",
    "FuzzFailure",
    "FuzzReport",
    "Schedule",
    "ScheduleError",
    "Step",
    "fuzz",
    "register_profiles",
    "replay_schedule",
]

register_profiles()
