"""`Runtime`: client and worker in one object, for services that embed the whole engine."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .client import Client
from .clock import Clock
from .payload import DEFAULT_MAX_PAYLOAD_BYTES
from .registry import Registry
from .stores.contract import Store
from .stores.url import open_store, store_or_url
from .worker import Worker

__all__ = ["Runtime", "open_store"]

DEFAULT_STORE = "sqlite:///orchestrate.db"


class Runtime(Client):
    """A `Client` with a `Worker` attached: ``with Runtime(reg) as rt:`` runs worker threads."""

    def __init__(
        self,
        registry: Registry,
        store: str | Store = DEFAULT_STORE,
        *,
        clock: Clock | None = None,
        threads: int = 2,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        **worker_options: Any,
    ) -> None:
        opened = store_or_url(store, "Runtime")
        super().__init__(
            opened, registry=registry, clock=clock, max_payload_bytes=max_payload_bytes
        )
        self.worker = Worker(
            registry,
            opened,
            clock=self.clock,
            threads=threads,
            max_payload_bytes=max_payload_bytes,
            **worker_options,
        )

    def __enter__(self) -> Runtime:
        self.worker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Runtime:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start_worker(self) -> None:
        self.worker.start()

    def close(self) -> None:
        """Stop the worker threads gracefully (see `Worker.stop`: running activities get the
        worker's `grace` seconds, `Runtime(reg, grace=...)`) and close the store."""
        self.worker.stop()
        self.store.close()

    def run_until_idle(self, max_rounds: int = 1_000_000) -> int:
        """Drive the worker on this thread until nothing is workable now; returns rounds run."""
        rounds = 0
        while rounds < max_rounds and self.worker.poll_once():
            rounds += 1
        return rounds
