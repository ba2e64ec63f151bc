"""What only the SQLite store does: its file format, refusal of foreign files, durability across
reopen, rollback of a failed batch, damaged rows confined to their instance, threads and
connections sharing one file. The shared `Store` contract is in test_store_contract.py."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrate import (
    Client,
    DuplicateInstance,
    Registry,
    Runtime,
    Status,
    StoreError,
    Worker,
    open_store,
)
from orchestrate import history as h
from orchestrate.state import ActivityWork, InstanceState, Message, TurnCommit
from orchestrate.stores.sqlite import SqliteStore
from orchestrate.stores.sqlite_schema import SCHEMA_VERSION

from ..waiting import wait_until
from .conftest import ManualClock
from .stores import write_results, write_turns

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "o.db")


def make_registry() -> Registry:
    reg = Registry()

    @reg.activity
    def double(x: int) -> int:
        return 2 * x

    @reg.orchestration
    async def waits(ctx, x: int) -> int:
        y = await ctx.activity(double, x)
        bonus = await ctx.event("go")
        return y + bonus

    @reg.orchestration
    async def chain(ctx, x: int) -> int:
        for _ in range(3):
            x = await ctx.activity(double, x)
        return x

    return reg


def settle(worker: Worker) -> None:
    for _ in range(1000):
        if not worker.poll_once():
            return
    raise AssertionError("the worker never settled")


# --- opening -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///rel.db", "rel.db"),
        ("sqlite:////abs/dir/x.db", "/abs/dir/x.db"),
        ("sqlite:rel.db", "rel.db"),
        ("plain.db", "plain.db"),
        ("sqlite:///my%20file.db?synchronous=normal", "my file.db"),
    ],
)
def test_url_forms_name_the_file(url: str, expected: str, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    seen: list[tuple[str, dict]] = []
    monkeypatch.setattr(SqliteStore, "__init__", lambda self, p, **kw: seen.append((p, kw)))
    SqliteStore.from_url(url)
    assert seen[0][0] == expected
    assert seen[0][1] == ({"synchronous": "normal"} if "normal" in url else {})


def test_open_store_defaults_to_a_durable_sqlite_file(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///orders.db")
    try:
        assert isinstance(store, SqliteStore) and store.synchronous == "FULL"
        conn = sqlite3.connect(tmp_path / "orders.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"synchronous": "OFF"}, "synchronous='OFF' is not supported"),
        ({"path": ":memory:"}, "use the 'memory:' store URL"),
    ],
)
def test_bad_options_are_refused_with_the_fix(db: str, option: dict, message: str) -> None:
    path = option.pop("path", db)
    with pytest.raises(ValueError, match=message):
        SqliteStore(path, **option)


def test_unknown_url_option_is_refused(db: str) -> None:
    with pytest.raises(ValueError, match=r"unknown option 'fast'.*supported: synchronous"):
        SqliteStore.from_url(f"sqlite:///{db}?fast=1")


def _foreign_sqlite(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()


def _newer_schema(path: str) -> None:
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE orchestrate_meta SET value = ? WHERE key = 'schema_version'", ("99",))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _not_sqlite(path: str) -> None:
    Path(path).write_text("name,amount\nalice,3\n")


def _corrupt(path: str) -> None:
    Path(path).write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_foreign_sqlite, "another application.*tables customers.*left untouched"),
        (_newer_schema, f"schema version 99.*reads up to version {SCHEMA_VERSION}.*Upgrade"),
        (_not_sqlite, "is not an SQLite database.*left untouched"),
        (_corrupt, "not SQLite or is corrupt.*left untouched"),
    ],
)
def test_foreign_newer_or_corrupt_files_are_refused_and_never_modified(
    db: str, make, message: str
) -> None:
    make(db)
    before = {p.name: p.read_bytes() for p in Path(db).parent.iterdir()}
    with pytest.raises(StoreError, match=message):
        SqliteStore(db)
    after = {p.name: p.read_bytes() for p in Path(db).parent.iterdir()}
    assert after == before


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"directory .*nowhere.* does not exist"):
        SqliteStore(str(tmp_path / "nowhere" / "x.db"))


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_data_survives_reopening(db: str, synchronous: str) -> None:
    reg = make_registry()
    store = SqliteStore(db, synchronous=synchronous)
    client = Client(store, registry=reg)
    client.start("waits", 4, instance_id="w")
    settle(Worker(reg, store))
    store.close()
    reopened = SqliteStore(db, synchronous=synchronous)
    try:
        state = reopened.get_instance("w")
        assert state is not None and state.status == Status.RUNNING
        kinds = [e.kind for e in reopened.get_history("w")]
        assert kinds == ["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted"]
        Client(reopened).raise_event("w", "go", 1)
        settle(Worker(reg, reopened))
        final = reopened.get_instance("w")
        assert final is not None and final.output == 9
    finally:
        reopened.close()


# --- queue ids ------------------------------------------------------------------------------------


def test_queue_ids_are_never_reused_after_the_highest_row_is_deleted(db: str) -> None:
    """A rowid table without AUTOINCREMENT hands the deleted highest id to the next row, so a
    stale completion or consumed id could name a newer row (see test_store_contract)."""
    store = SqliteStore(db)
    client = Client(store)
    client.start("flow", None, instance_id="a")
    [work] = store.fetch_orchestration_work(T0)
    [start] = work.messages
    item = ActivityWork("a", 0, 1, "step", 1, call_id=1)
    commit = TurnCommit(work.instance, work.lock_token, [], [start.id], activities=[item])
    assert write_turns(store, [commit]) == [True]  # consumes the highest (only) message
    [leased] = store.fetch_activity_work(T0)
    done = Message("a", h.ActivityCompleted(T0, 1, 2), 0)
    write_results(store, [(leased, done)])  # deletes the highest (only) activity
    [work] = store.fetch_orchestration_work(T0)
    [result] = work.messages
    again = ActivityWork("a", 0, 2, "step", 2, call_id=2)
    commit = TurnCommit(work.instance, work.lock_token, [], [result.id], activities=[again])
    assert write_turns(store, [commit]) == [True]
    [next_item] = store.fetch_activity_work(T0)
    assert next_item.id > leased.id
    assert result.id > start.id
    store.close()


def test_a_reused_id_continues_the_generation_count_end_to_end(db: str) -> None:
    """Children with default ids (instance:generation:task) of a reused parent do not collide
    with the old run's, and the old run's late notices do not reach the new run."""
    reg = Registry()

    @reg.orchestration
    async def child(ctx, x: int) -> int:
        await ctx.event("go")
        return 2 * x

    @reg.orchestration
    async def parent(ctx, x: int) -> object:
        # abandoned and not cancelled (as_completed keeps the other task): the child outlives
        # the parent's first run, so its notice arrives late
        first = ctx.sub_orchestration(child, x, on_parent_close="abandon")
        async for won in ctx.as_completed([first, ctx.event("stop")]):
            return "stopped" if won is not first else won.result()
        return None

    store = SqliteStore(db)
    clock = ManualClock(T0)
    client = Client(store, registry=reg, clock=clock)
    worker = Worker(reg, store, clock=clock)
    client.start(parent, 1, instance_id="P")
    settle(worker)
    client.raise_event("P", "stop")
    settle(worker)
    assert client.state("P").output == "stopped"
    client.start(parent, 2, instance_id="P", reuse=True)
    settle(worker)
    assert client.state("P").generation == 1
    client.raise_event("P:0:0", "go")  # the old run's child finishes: its notice is stale
    settle(worker)
    assert client.state("P").status == Status.RUNNING
    client.raise_event("P:1:0", "go")
    settle(worker)
    state = client.state("P")
    assert (state.status, state.output) == (Status.COMPLETED, 4)
    store.close()


# --- atomicity and damage --------------------------------------------------------------------------


def test_a_failure_inside_a_batch_rolls_back_every_turn_of_it(db: str) -> None:
    store = SqliteStore(db)
    client = Client(store)
    for key in ("a", "b"):
        client.start("flow", None, instance_id=key)
    works = store.fetch_orchestration_work(T0, limit=2)
    good, bad = (
        TurnCommit(w.instance, w.lock_token, [w.messages[0].event], [m.id for m in w.messages])
        for w in works
    )
    bad.new_events.append(h.SideEffectRecorded(T0, 1, object()))  # not JSON: fails mid-batch
    with pytest.raises(TypeError):
        write_turns(store, [good, bad])
    assert store.get_history("a") == [] and store.get_history("b") == []
    assert write_turns(store, [good]) == [True]  # nothing was consumed; the lock still holds
    store.close()


def _run_until_waiting(db: str) -> tuple[SqliteStore, Registry]:
    reg = make_registry()
    store = SqliteStore(db)
    client = Client(store, registry=reg)
    client.start("waits", 1, instance_id="damaged")
    client.start("waits", 2, instance_id="healthy")
    settle(Worker(reg, store))
    return store, reg


def _damage(db: str, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            'UPDATE history SET event = \'{"type": "Bogus", "at": "x"}\' '
            "WHERE instance_id = 'damaged' AND seq = 1",
            r"stored history of 'damaged' cannot be read: history event 1 .*unknown type 'Bogus'",
        ),
        (
            "UPDATE history SET event = 'not json' WHERE instance_id = 'damaged' AND seq = 2",
            "history event 2 of instance 'damaged' is not valid JSON",
        ),
    ],
)
def test_an_undecodable_history_row_fails_only_its_instance(db: str, sql: str, message) -> None:
    store, reg = _run_until_waiting(db)
    _damage(db, sql)
    client = Client(store)
    for key in ("damaged", "healthy"):
        client.raise_event(key, "go", 10)
    settle(Worker(reg, store))  # a fresh worker: no cached execution, so it replays from the file
    damaged, healthy = client.state("damaged"), client.state("healthy")
    assert damaged.status == Status.FAILED and damaged.error is not None
    assert damaged.error.type == "StoreError"
    assert re.search(message, damaged.error.message), damaged.error.message
    assert healthy.status == Status.COMPLETED and healthy.output == 14
    store.close()


def test_an_undecodable_message_fails_only_its_instance(db: str) -> None:
    store, reg = _run_until_waiting(db)
    client = Client(store)
    for key in ("damaged", "healthy"):
        client.raise_event(key, "go", 10)
    _damage(db, "UPDATE messages SET event = '{oops' WHERE instance_id = 'damaged'")
    settle(Worker(reg, store))
    damaged, healthy = client.state("damaged"), client.state("healthy")
    assert damaged.status == Status.FAILED and damaged.error is not None
    assert "to instance 'damaged' is not valid JSON" in damaged.error.message
    assert healthy.status == Status.COMPLETED
    store.close()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("status", "'bogus'", "'bogus' is not a valid Status"),
        ("output", "'{oops'", "Expecting property name"),
        ("custom_status", "'[1, 2'", "Expecting ',' delimiter"),
        ("error", "'[]'", "list indices must be integers"),
    ],
)
def test_an_undecodable_state_row_fails_only_its_instance(
    db: str, column: str, value: str, message: str
) -> None:
    store, reg = _run_until_waiting(db)
    _damage(db, f"UPDATE instances SET {column} = {value} WHERE instance_id = 'damaged'")
    with pytest.raises(StoreError, match=f"stored state of instance 'damaged'.*{message}"):
        store.get_instance("damaged")
    client = Client(store)
    for key in ("damaged", "healthy"):
        client.raise_event(key, "go", 10)
    settle(Worker(reg, store))
    assert client.state("healthy").output == 14
    conn = sqlite3.connect(db)
    status, error = conn.execute(
        "SELECT status, error FROM instances WHERE instance_id = 'damaged'"
    ).fetchone()
    conn.close()
    assert status == "failed" and "the instance was failed to protect the others" in error
    store.close()


def test_an_instance_of_removed_code_fails_alone(db: str) -> None:
    reg = make_registry()
    store = SqliteStore(db)
    client = Client(store)  # no registry: a name the worker does not know is accepted here
    client.start("retired_flow", None, instance_id="old")
    client.start("chain", 1, instance_id="new")
    settle(Worker(reg, store, unknown_grace=timedelta(0)))  # no waiting for a capable worker
    old = client.state("old")
    assert old.status == Status.FAILED and old.error is not None
    assert old.error.type == "UnknownOrchestration" and "retired_flow" in old.error.message
    assert client.state("new").output == 8
    store.close()


# --- concurrency -------------------------------------------------------------------------------------


def test_two_connections_never_lock_the_same_instance(db: str) -> None:
    first, second = SqliteStore(db), SqliteStore(db)
    client = Client(first)
    for i in range(10):
        client.start("flow", i, instance_id=f"i{i}")
    taken_a = first.fetch_orchestration_work(T0, limit=6)
    taken_b = second.fetch_orchestration_work(T0, limit=6)
    ids_a = {w.instance.instance_id for w in taken_a}
    ids_b = {w.instance.instance_id for w in taken_b}
    assert len(ids_a) == 6 and len(ids_b) == 4 and not ids_a & ids_b
    # A commit carrying the other connection's token is refused there too.
    forged = TurnCommit(taken_a[0].instance, taken_b[0].lock_token, [], [])
    assert write_turns(second, [forged]) == [False]
    first.close()
    second.close()


def test_worker_threads_run_every_instance_exactly_once(db: str) -> None:
    reg = make_registry()
    with Runtime(reg, store=f"sqlite:///{db}", threads=4, batch_size=8) as rt:
        ids = [rt.start("chain", i, instance_id=f"c{i}") for i in range(60)]
        states = [rt.wait(key, timeout=30) for key in ids]
        assert [s.output for s in states] == [8 * i for i in range(60)]
        for key in ids:
            kinds = [e.kind for e in rt.history(key)]
            assert kinds.count("OrchestrationCompleted") == 1
            assert kinds.count("ActivityCompleted") == 3


def test_wait_for_change_wakes_on_a_commit_by_another_connection(db: str) -> None:
    watcher, writer = SqliteStore(db), SqliteStore(db)
    woke = threading.Event()

    def wait() -> None:
        watcher.wait_for_change(30)
        woke.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    client = Client(writer)
    starts = iter(range(1000))

    def commit_and_check() -> bool:
        # Commit until the watcher notices (it may take its baseline after the first commit).
        client.start("flow", None, instance_id=f"x{next(starts)}")
        return woke.wait(0.05)

    wait_until(commit_and_check, 10, what="wait_for_change to notice another connection's commit")
    thread.join()
    watcher.close()
    writer.close()


def test_a_mark_covers_commits_by_another_connection(db: str) -> None:
    watcher, writer = SqliteStore(db), SqliteStore(db)
    mark = watcher.change_mark()
    assert watcher.wait_for_change(0, mark) is False
    Client(writer).start("flow", None, instance_id="x")  # another store object: another process
    assert watcher.wait_for_change(0, mark) is True  # SQLite's data_version moved
    watcher.close()
    writer.close()


def test_next_wakeup_skips_the_timer_of_a_locked_instance(db: str) -> None:
    store = SqliteStore(db)
    Client(store).start("flow", None, instance_id="t")
    work = store.fetch_orchestration_work(T0)[0]
    due = T0 + timedelta(seconds=5)
    timer = Message("t", h.TimerFired(due, 0), 0, visible_at=due)
    commit = TurnCommit(work.instance, work.lock_token, [], [m.id for m in work.messages])
    commit.messages.append(timer)
    write_turns(store, [commit])
    assert store.next_wakeup() == due
    store.fetch_orchestration_work(due, lease=60)  # locked until due + 60 s
    assert store.next_wakeup() == due + timedelta(seconds=60)
    store.close()


def test_a_closed_store_still_serves_threads_winding_down(db: str) -> None:
    store = SqliteStore(db)
    store.close()
    Client(store).start("flow", None, instance_id="late")
    state = store.get_instance("late")
    assert isinstance(state, InstanceState) and state.status == Status.PENDING
    store.wait_for_change(30)  # returns at once: nobody should block on a closed store


def test_concurrent_writes_share_commits_and_fail_alone(db: str) -> None:
    """Group commit: a start that fails (duplicate id) is undone alone, the rest commit."""
    store = SqliteStore(db)
    client = Client(store)
    client.start("flow", None, instance_id="taken")
    barrier = threading.Barrier(24)
    outcomes: list[str] = []

    def start(index: int) -> None:
        barrier.wait()
        key = "taken" if index % 8 == 0 else f"n{index}"
        try:
            client.start("flow", index, instance_id=key)
            outcomes.append("ok")
        except DuplicateInstance:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["duplicate"] * 3 + ["ok"] * 21
    assert len(store.list_instances()) == 22
    works = store.fetch_orchestration_work(T0, limit=100)
    assert sorted(len(w.messages) for w in works) == [1] * 22  # one start each, none lost
    store.close()


def test_starts_committed_in_one_group_each_get_their_own_answer(db: str) -> None:
    """Starts queued behind one group commit share its transaction; taken ids (running, finished
    with and without reuse, the same id twice in the group) are decided as if alone."""
    store = SqliteStore(db)
    client = Client(store)
    client.start("flow", 0, instance_id="running")
    client.start("flow", 0, instance_id="done")
    work = store.fetch_orchestration_work(T0, limit=5)
    [done] = [w for w in work if w.instance.instance_id == "done"]
    finished = InstanceState("done", "flow", Status.COMPLETED, 0, output="ok", updated_at=T0)
    consumed = [m.id for m in done.messages]
    assert write_turns(store, [TurnCommit(finished, done.lock_token, [], consumed)]) == [True]
    release = threading.Event()
    leader = threading.Thread(target=lambda: store._db.group(lambda conn: release.wait(10)))
    leader.start()
    wait_until(lambda: store._db._leading, what="the blocking write to lead its group")
    calls = [("new", False), ("twice", False), ("twice", False), ("running", False)]
    calls += [("done", False), ("done", True), ("other", False)]
    outcome: dict[int, object] = {}

    def start(index: int, key: str, reuse: bool) -> None:
        try:
            outcome[index] = client.start("flow", index, instance_id=key, reuse=reuse)
        except DuplicateInstance as exc:
            outcome[index] = exc

    threads = []
    for index, (key, reuse) in enumerate(calls):
        threads.append(threading.Thread(target=start, args=(index, key, reuse)))
        threads[-1].start()
        wait_until(  # queue them in this order
            lambda n=index + 1: len(store._db._queue) == n, what=f"start {index} ({key!r}) to queue"
        )
    release.set()
    for thread in [leader, *threads]:
        thread.join(10)
    refused = {i for i, value in outcome.items() if isinstance(value, DuplicateInstance)}
    assert refused == {2, 3, 4}  # the second "twice", the running one, "done" without reuse
    assert "still running" in str(outcome[3]) and "reuse=True" in str(outcome[4])
    for key, value, generation in [("new", 0, 0), ("twice", 1, 0), ("done", 5, 1), ("other", 6, 0)]:
        state = store.get_instance(key)
        assert state is not None and (state.input, state.generation) == (value, generation)
        assert state.status == Status.PENDING
    works = {w.instance.instance_id: w for w in store.fetch_orchestration_work(T0, limit=10)}
    assert set(works) == {"new", "twice", "done", "other"}  # "running" is still locked
    for key, work in works.items():
        [start_message] = work.messages
        assert start_message.event.kind == "OrchestrationStarted"
        assert start_message.generation == (1 if key == "done" else 0)
    store.close()


def test_a_version_1_file_is_migrated_in_place_and_keeps_its_data(db: str) -> None:
    reg = make_registry()
    store = SqliteStore(db)
    Client(store, registry=reg).start("waits", 4, instance_id="w")
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE heartbeats")  # as version 1 made it
    conn.execute("UPDATE orchestrate_meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    try:
        version = store_version(db)
        assert version == SCHEMA_VERSION == 2
        settle(Worker(reg, store))
        Client(store).raise_event("w", "go", 1)
        settle(Worker(reg, store))
        final = store.get_instance("w")
        assert final is not None and final.output == 9
    finally:
        store.close()


def store_version(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM orchestrate_meta WHERE key = 'schema_version'")
        return int(row.fetchone()[0])
    finally:
        conn.close()
