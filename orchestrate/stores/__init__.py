"""Stores: the one seam between the runtime and durable storage.

`contract` holds the `Store` protocol (one atomic `write`, reads, claims, operator actions)
and the helpers every store shares; `memory` is the in-process store (tests, the testkit);
`sqlite` (with `sqlite_db`, `sqlite_schema`, `sqlite_batch`, `sqlite_write`) is the
embedded default; `url` opens a store from a URL. The SQLite store is imported lazily, so a
memory-only user never loads sqlite3. `postgres` (with `postgres_db`, `postgres_schema`, `postgres_write`) is the one for many worker
processes on many machines, imported lazily too; `rows` and `times` are the encoding both SQL
stores share.
"""

from .contract import Store, child_starts, next_run
from .memory import MemoryStore
from .url import open_store, store_or_url

__all__ = ["MemoryStore", "Store", "child_starts", "next_run", "open_store", "store_or_url"]
