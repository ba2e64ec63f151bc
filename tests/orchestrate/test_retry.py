"""RetryPolicy: backoff arithmetic, caps, non-retryable types, validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrate import RetryPolicy


def test_delay_grows_by_backoff_and_is_capped() -> None:
    policy = RetryPolicy(
        max_attempts=10,
        initial_interval=timedelta(seconds=1),
        backoff=2.0,
        max_interval=timedelta(seconds=5),
    )
    assert [policy.delay(n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 5, 5]


@pytest.mark.parametrize(
    ("error_type", "attempt", "expected"),
    [
        ("ValueError", 1, True),
        ("ValueError", 3, False),
        ("KeyError", 1, False),
        ("Custom", 1, False),
    ],
)
def test_retries_respects_attempts_and_non_retryable(
    error_type: str, attempt: int, expected: bool
) -> None:
    class Custom(Exception):
        pass

    policy = RetryPolicy(max_attempts=3, non_retryable=("KeyError", Custom))
    assert policy.retries(error_type, attempt) is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "must be at least 1"),
        ({"backoff": 0.5}, "must be at least 1.0"),
        ({"initial_interval": timedelta(seconds=-1)}, "must not be negative"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
