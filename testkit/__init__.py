"""testkit: test orchestrations on virtual time, with every turn replay-checked.

``TestEnv(reg)`` runs orchestrations against the real runtime on a `FakeClock` that skips
through timers; ``env.script(activity, [fail(...), ok(...)])`` scripts activity outcomes; every
turn is replayed from scratch and compared, so non-deterministic code fails the test that runs
it. ``replay_dir(reg, path)`` checks that today's code still replays recorded histories.
"""

from .activity_env import ActivityEnv
from .clock import DEFAULT_START, FakeClock
from .env import TestEnv
from .errors import (
    RunawayOrchestration,
    ScriptExhausted,
    StubbedOrchestration,
    TestkitError,
    UnscriptedActivity,
)
from .outcomes import Outcome, delay, fail, hang, ok
from .pending import Pending, PendingActivity, PendingChild, PendingTimer
from .replay_files import ReplayReport, ReplayResult, replay_dir, replay_history
from .run import Run

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/testkit/test_exports.py checks)
    "ActivityEnv",
    "DEFAULT_START",
    "FakeClock",
    "Outcome",
    "Pending",
    "PendingActivity",
    "PendingChild",
    "PendingTimer",
    "ReplayReport",
    "ReplayResult",
    "Run",
    "RunawayOrchestration",
    "ScriptExhausted",
    "StubbedOrchestration",
    "TestEnv",
    "TestkitError",
    "UnscriptedActivity",
    "delay",
    "fail",
    "hang",
    "ok",
    "replay_dir",
    "replay_history",
]
