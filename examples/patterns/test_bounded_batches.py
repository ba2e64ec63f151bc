from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrate import Status
from testkit import TestEnv, delay

from ._history import kinds, max_in_flight
from .bounded_batches import (
    BatchJob,
    process_in_batches,
    process_user,
    process_users,
    reg,
    score_item,
)


def slow_for_even_users(user_id: str) -> Any:
    """Even-numbered users take longer, so completion order differs from input order."""
    n = int(user_id.rsplit("-", 1)[-1])
    return delay(timedelta(seconds=5 if n % 2 == 0 else 1), {"mailbox": f"{user_id}@x"})


@pytest.mark.parametrize(("users", "limit"), [(25, 10), (7, 3), (4, 10), (5, 1)])
def test_never_more_than_max_concurrency_in_flight_and_results_in_input_order(
    users: int, limit: int
) -> None:
    env = TestEnv(reg)
    env.script(process_user, slow_for_even_users)
    ids = [f"user-{i}" for i in range(users)]
    run = env.run(process_users, {"users": ids, "max_concurrency": limit})

    assert run.status == Status.COMPLETED
    assert run.output["mailboxes"] == [f"{u}@x" for u in ids]
    assert max_in_flight(run.history) == min(limit, users)
    assert sorted(run.calls(process_user)) == sorted(ids)


def test_a_failing_item_fails_the_map_and_stops_starting_new_items() -> None:
    env = TestEnv(reg)  # real activity: "banned-*" users raise PermissionError
    ids = ["u-1", "banned-2"] + [f"u-{i}" for i in range(3, 30)]
    run = env.run(process_users, {"users": ids, "max_concurrency": 2})

    assert run.status == Status.FAILED
    assert run.error is not None and "banned-2 may not be processed" in run.error.message
    assert len(run.calls(process_user)) < len(ids)


def test_batches_run_one_per_generation_with_progress_and_bounded_history() -> None:
    env = TestEnv(reg)
    job = BatchJob(items=list(range(1, 46)), batch_size=10)  # 13, 26 and 39 are corrupt
    run = env.run(process_in_batches, job)

    assert run.output == {
        "processed": 45,
        "total": 2 * (sum(range(1, 46)) - 13 - 26 - 39),
        "failed": [13, 26, 39],
    }
    assert env.state(run.instance_id).generation == 4  # five batches
    assert run.custom_status == {"done": 45, "of": 45, "failed": 3}
    assert len(run.calls(score_item)) == 45
    # the last generation's history holds only the last batch of five
    assert kinds(run.history).count("ActivityScheduled") == 5
