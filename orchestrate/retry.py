"""Retry policies for activities: how many attempts, how long to wait between them, what not to retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry an activity up to `max_attempts` times with exponential backoff.

    Each attempt and each backoff timer is recorded in the history, so retries survive restarts.
    `non_retryable` lists error type names (or exception classes) that fail the call at once.
    """

    max_attempts: int = 3
    initial_interval: timedelta = timedelta(seconds=1)
    backoff: float = 2.0
    max_interval: timedelta = timedelta(minutes=5)
    non_retryable: tuple[str | type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy(max_attempts={self.max_attempts}) must be at least 1")
        if self.backoff < 1.0:
            raise ValueError(f"RetryPolicy(backoff={self.backoff}) must be at least 1.0")
        if self.initial_interval < timedelta(0) or self.max_interval < timedelta(0):
            raise ValueError("RetryPolicy intervals must not be negative")

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1-based), capped at `max_interval`."""
        seconds = self.initial_interval.total_seconds() * self.backoff ** (attempt - 1)
        return min(timedelta(seconds=seconds), self.max_interval)

    def retries(self, error_type: str, attempt: int) -> bool:
        """Whether a failure of type `error_type` on attempt `attempt` earns another attempt."""
        if attempt >= self.max_attempts:
            return False
        names = {t if isinstance(t, str) else t.__name__ for t in self.non_retryable}
        return error_type not in names
