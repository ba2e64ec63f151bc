"""Runtime: store URLs and the embedded client+worker."""

from __future__ import annotations

import pytest

from orchestrate import MemoryStore, OrchestrationContext, Registry, Runtime, Status, open_store

reg = Registry()


@reg.orchestration
async def hello(ctx: OrchestrationContext, name: str) -> str:
    return f"hello {name}"


@pytest.mark.parametrize("url", ["memory:", ":memory:"])
def test_memory_urls(url: str) -> None:
    assert isinstance(open_store(url), MemoryStore)


def test_store_objects_pass_through_and_unknown_urls_are_refused() -> None:
    store = MemoryStore()
    assert open_store(store) is store
    with pytest.raises(ValueError, match="unknown store URL 'redis://x'"):
        open_store("redis://x")


def test_postgresql_urls_open_the_postgres_store(pg_url: str) -> None:
    from orchestrate.stores.postgres import PostgresStore

    for url in (pg_url, pg_url.replace("postgresql:", "postgres:", 1)):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        store.close()


def test_runtime_without_threads_runs_until_idle() -> None:
    rt = Runtime(reg, store="memory:")
    iid = rt.start(hello, "world")
    assert rt.run_until_idle() > 0
    state = rt.state(iid)
    assert (state.status, state.output) == (Status.COMPLETED, "hello world")
    rt.close()


def test_runtime_context_manager_runs_worker_threads() -> None:
    with Runtime(reg, store="memory:") as rt:
        iid = rt.start(hello, "threads")
        assert rt.wait(iid, timeout=30).output == "hello threads"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresq://u:topsecret@h/db", "postgresq://u@h/db"),
        ("postgresql://u:p:w@d@h:5432/db?x=1", "postgresql://u@h:5432/db?x=1"),
        ("sqlite:///a.db", "sqlite:///a.db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_errors_and_pages_never_show_a_urls_password(url: str, shown: str) -> None:
    from orchestrate.stores.url import hide_password

    assert hide_password(url) == shown
    if url.startswith("postgresq:"):
        with pytest.raises(ValueError) as caught:
            open_store(url)
        assert "topsecret" not in str(caught.value) and shown in str(caught.value)
