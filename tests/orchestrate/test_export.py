"""Bulk history export: one replay-format file per instance, filtered by status, name and last
change, with file names safe and distinct for any instance id."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestrate import Client, MemoryStore, OrchestrationContext, Registry, Status, Worker
from orchestrate.codec import history_from_json
from orchestrate.export import export_histories, file_name

from .conftest import START
from .stores import make_store

reg = Registry()


@reg.activity
def double(x: int) -> int:
    return 2 * x


@reg.orchestration
async def doubler(ctx: OrchestrationContext, x: int) -> int:
    return int(await ctx.activity(double, x))


@reg.orchestration
async def waiter(ctx: OrchestrationContext, x: int) -> int:
    return int(await ctx.event("go")) + x


class Clock:
    def __init__(self) -> None:
        self.at = START

    def now(self):  # type: ignore[no-untyped-def]
        return self.at


@pytest.fixture
def client() -> Client:
    store, clock = MemoryStore(), Clock()
    client, worker = Client(store, clock=clock), Worker(reg, store, clock=clock)
    client.start(doubler, 1, instance_id="d-1")
    client.start(waiter, 1, instance_id="w-1")
    while worker.poll_once():
        pass
    clock.at = START + timedelta(days=1)
    client.start(doubler, 2, instance_id="d/2:odd")
    client.start(waiter, 3, instance_id="late")
    while worker.poll_once():
        pass
    client.start(waiter, 4, instance_id="pending")  # no worker turn yet
    return client


def test_every_instance_with_a_history_gets_one_file_in_the_replay_format(
    client: Client, tmp_path: Path
) -> None:
    done = export_histories(client, tmp_path / "out")
    names = sorted(p.name for p in done.files)
    assert names == sorted(["d-1.json", "w-1.json", file_name("d/2:odd"), "late.json"])
    assert done.skipped == ["pending"]  # started, but no worker turn yet: no history
    for path in done.files:
        events = history_from_json(path.read_text(encoding="utf-8"), str(path))
        assert events[0].kind == "OrchestrationStarted"
    odd = tmp_path / "out" / file_name("d/2:odd")
    assert history_from_json(odd.read_text())[0].instance_id == "d/2:odd"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"statuses": ["completed"]}, {"d-1", "d/2:odd"}),
        ({"statuses": [Status.RUNNING, "failed"]}, {"w-1", "late"}),
        ({"names": ["waiter"]}, {"w-1", "late"}),
        ({"names": ["doubler"], "statuses": ["running"]}, set()),
        ({"since": START + timedelta(hours=12)}, {"d/2:odd", "late"}),
    ],
)
def test_filters_combine(client: Client, tmp_path: Path, filters: dict, expected: set) -> None:
    done = export_histories(client, tmp_path, **filters)
    found = {history_from_json(p.read_text())[0].instance_id for p in done.files}  # type: ignore[attr-defined]
    assert found == expected


def test_a_bad_status_is_refused() -> None:
    with pytest.raises(ValueError):
        export_histories(Client(MemoryStore()), Path("unused"), statuses=["finished"])


IDS = ["order-1", "a/b", "a_b", "../up", ".hidden", "x" * 300, "é:ü", "", "O-1", "o-1", "CON",
       "con", "nul.txt", "Order-1"]


@pytest.mark.parametrize("instance_id", IDS)
def test_file_names_are_plain_and_distinct_ignoring_case(instance_id: str) -> None:
    name = file_name(instance_id)
    assert name.endswith(".json") and "/" not in name and not name.startswith(".")
    assert len(name) < 130
    others = set(IDS) - {instance_id}
    assert all(file_name(other).lower() != name.lower() for other in others)
    # an id made to look like another's hashed name gets a hash of its own
    lookalike = file_name("O-1").lower().removesuffix(".json")
    assert file_name(lookalike).lower() != file_name("O-1").lower()


@pytest.mark.parametrize(
    ("instance_id", "plain"), [("order-1", True), ("o-1.v2", True), ("O-1", False), ("con", False)]
)
def test_only_lowercase_plain_ids_keep_their_name(instance_id: str, plain: bool) -> None:
    assert (file_name(instance_id) == f"{instance_id}.json") is plain


def test_files_are_private_to_their_owner(client: Client, tmp_path: Path) -> None:
    (tmp_path / "d-1.json").write_text("old")
    (tmp_path / "d-1.json").chmod(0o644)
    done = export_histories(client, tmp_path)
    assert {p.stat().st_mode & 0o777 for p in done.files} == {0o600}
    assert history_from_json((tmp_path / "d-1.json").read_text())  # replaced, not appended
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in done.files)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_instances_are_read_a_page_at_a_time(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    client = Client(make_store(kind, tmp_path), clock=clock)
    for n in range(12):  # some share a creation time: the cursor's id breaks the tie
        clock.at = START + timedelta(seconds=n // 2)
        client.start(waiter if n % 3 else doubler, n, instance_id=f"i-{n:02}")
    worker = Worker(reg, client.store, clock=clock)
    while worker.poll_once():
        pass
    pages: list[int] = []
    query = client.store.query_instances

    def counted(q):  # type: ignore[no-untyped-def]
        pages.append(len(found := query(q)))
        return found

    monkeypatch.setattr("orchestrate.export.PAGE", 3)
    monkeypatch.setattr(client.store, "query_instances", counted)
    monkeypatch.setattr(client, "list", None)  # never everything at once
    done = export_histories(client, tmp_path / "out")
    assert max(pages) == 3 and sum(pages) == 12  # each instance read once
    assert sorted(p.name for p in done.files) == [f"i-{n:02}.json" for n in range(12)]
    pages.clear()
    waiting = export_histories(client, tmp_path / "w", statuses=["running"], names=["waiter"])
    assert len(waiting.files) == 8 and sum(pages) == 8  # filtered by the store, not after
    client.store.close()
