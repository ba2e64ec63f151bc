"""`Runtime`: client and worker in one object, for services that embed the whole engine."""

from __future__ import annotations

import importlib
import os
from types import TracebackType
from typing import Any

from .client import Client
from .clock import Clock
from .memory_store import MemoryStore
from .registry import Registry
from .store import Store
from .worker import Worker

__all__ = ["Runtime", "open_store"]

DEFAULT_STORE = "sqlite:///orchestrate.db"


def open_store(url: str | Store) -> Store:
    """Open a store from a URL: ``memory:``, ``sqlite:///rel.db``, ``sqlite:////abs.db`` or a bare
    ``*.db`` path. A `Store` object is returned as is.

    ``postgresql://...`` is reserved for the PostgreSQL store, which this version does not have
    yet: it raises `ValueError` saying so, rather than failing on a module that does not exist.
    """
    if not isinstance(url, str):
        return url
    if url in ("memory:", "memory://", ":memory:"):
        return MemoryStore()
    # Stores are imported lazily: a memory-only user never pays for sqlite3 or psycopg.
    is_path = "://" not in url and (url.endswith((".db", ".sqlite", ".sqlite3")) or os.sep in url)
    if url.startswith("sqlite:") or is_path:
        return _store_class("sqlite_store", "SqliteStore").from_url(url)  # type: ignore[no-any-return]
    if url.startswith(("postgresql:", "postgres:")):
        raise ValueError(
            f"store URL {url!r} names the PostgreSQL store, which is not available in this "
            "version of orchestrate; use 'memory:' or 'sqlite:///path.db' (a SQLite file) instead"
        )
    raise ValueError(f"unknown store URL {url!r}; use 'memory:' or 'sqlite:///path.db'")


def _store_class(module: str, name: str) -> Any:
    try:
        loaded = importlib.import_module(f"orchestrate.{module}")
    except ImportError as exc:
        raise ValueError(f"the {name} is not available: {exc}") from exc
    return getattr(loaded, name)


class Runtime(Client):
    """A `Client` with a `Worker` attached: ``with Runtime(reg) as rt:`` runs worker threads."""

    def __init__(
        self,
        registry: Registry,
        store: str | Store = DEFAULT_STORE,
        *,
        clock: Clock | None = None,
        threads: int = 2,
        **worker_options: Any,
    ) -> None:
        opened = open_store(store)
        super().__init__(opened, registry=registry, clock=clock)
        self.worker = Worker(registry, opened, clock=self.clock, threads=threads, **worker_options)

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
        """Stop the worker threads and close the store."""
        self.worker.stop()
        self.store.close()

    def run_until_idle(self, max_rounds: int = 1_000_000) -> int:
        """Drive the worker on this thread until nothing is workable now; returns rounds run."""
        rounds = 0
        while rounds < max_rounds and self.worker.poll_once():
            rounds += 1
        return rounds
