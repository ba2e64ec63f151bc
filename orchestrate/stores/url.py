"""`open_store`: a store from a URL, shared by `Client`, `Runtime` and the CLI.

Its own module so that `client` can open URLs without importing `runtime` (which imports
`client`); `runtime` re-exports it, where users have always found it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .contract import Store
from .memory import MemoryStore

__all__ = ["hide_password", "open_store"]


def open_store(url: str | Store) -> Store:
    """Open a store from a URL: ``memory:``, ``sqlite:///rel.db``, ``sqlite:////abs.db``, a bare
    ``*.db`` path, or ``postgresql://user@host/db`` (the PostgreSQL store; needs the ``postgres``
    extra, psycopg 3). A `Store` object is returned as is.
    """
    if not isinstance(url, str):
        return url
    if url in ("memory:", "memory://", ":memory:"):
        return MemoryStore()
    # Stores are imported lazily: a memory-only user never pays for sqlite3 or psycopg.
    is_path = "://" not in url and (url.endswith((".db", ".sqlite", ".sqlite3")) or os.sep in url)
    if url.startswith("sqlite:") or is_path:
        return _store_class("stores.sqlite", "SqliteStore").from_url(url)  # type: ignore[no-any-return]
    if url.startswith(("postgresql:", "postgres:")):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ValueError(
                f"store URL {hide_password(url)!r} names the PostgreSQL store, which needs psycopg 3: install "
                "it with pip install 'orchestrate[postgres]'"
            ) from None
        return _store_class("stores.postgres", "PostgresStore").from_url(url)  # type: ignore[no-any-return]
    raise ValueError(
        f"unknown store URL {hide_password(url)!r}; use 'memory:', 'sqlite:///path.db' or "
        "'postgresql://user@host/db'"
    )


def hide_password(url: str) -> str:
    """`url` as it may be printed or shown: ``scheme://user@host/...`` without the password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}://{credentials.partition(':')[0]}@{host}"


def _store_class(module: str, name: str) -> Any:
    try:
        loaded = importlib.import_module(f"orchestrate.{module}")
    except ImportError as exc:
        raise ValueError(f"the {name} is not available: {exc}") from exc
    return getattr(loaded, name)


def store_or_url(store: object, owner: str) -> Store:
    """`store` itself when it is a `Store`, the store a URL string opens, else a `TypeError`
    naming what `owner` got and what it takes (a wrong argument fails here, not at first use)."""
    if isinstance(store, str):
        return open_store(store)
    if isinstance(store, Store):
        return store
    raise TypeError(
        f"{owner} got {type(store).__name__} {_abridge(store)} as its store; pass a Store object "
        "(MemoryStore(), SqliteStore('app.db'), ...) or a store URL such as 'sqlite:///app.db' "
        "or 'memory:'"
    )


def _abridge(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
