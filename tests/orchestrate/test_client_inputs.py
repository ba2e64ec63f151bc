"""Client construction and instance ids: a wrong store or id fails at once, naming what it got."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrate import Client, InvalidInstanceId, MemoryStore, Registry, Runtime, Status
from orchestrate.stores.sqlite import SqliteStore

reg = Registry()


@reg.orchestration
async def echo(ctx, value: object) -> object:
    return value


def test_client_opens_a_store_url(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'c.db'}")
    assert isinstance(client.store, SqliteStore)
    key = client.start("echo", 1, instance_id="k")
    assert client.state(key).status == Status.PENDING
    client.store.close()
    assert isinstance(Client("memory:").store, MemoryStore)


@pytest.mark.parametrize("bad", [42, None, b"sqlite:///x.db", object()])
def test_a_client_of_something_that_is_no_store_fails_at_construction(bad: object) -> None:
    with pytest.raises(TypeError, match=rf"Client got {type(bad).__name__} .*store URL"):
        Client(bad)  # type: ignore[arg-type]


def test_a_runtime_of_something_that_is_no_store_fails_at_construction() -> None:
    with pytest.raises(TypeError, match="Runtime got int"):
        Runtime(reg, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", 7, b"id"])
def test_an_empty_or_non_string_instance_id_is_refused(bad: object) -> None:
    client = Client(MemoryStore(), registry=reg)
    with pytest.raises(InvalidInstanceId, match="instance_id"):
        client.start(echo, 1, instance_id=bad)  # type: ignore[arg-type]
    assert client.list() == []
    with pytest.raises((ValueError, TypeError)):
        client.raise_event(bad, "Go")  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        client.terminate(bad)  # type: ignore[arg-type]


def test_no_instance_id_still_means_a_new_random_one() -> None:
    client = Client(MemoryStore(), registry=reg)
    first, second = client.start(echo, 1), client.start(echo, 2)
    assert first and second and first != second
