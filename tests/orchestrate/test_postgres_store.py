"""What the PostgreSQL store adds to the contract suite (which it passes with the other stores):
URLs, its schema's version check and migration, claims by concurrent workers, wake-ups through
LISTEN/NOTIFY, lost connections, a server restart, and real worker threads on it. Each test gets
a fresh database on the session's throwaway cluster (`pg_url`, see `tests/conftest.py`)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import psycopg
import pytest

from orchestrate import Client, InstanceState, OrchestrationContext, Registry, Runtime, Status
from orchestrate import history as h
from orchestrate.errors import StoreError, StoreUnavailable
from orchestrate.state import Message, TurnCommit
from orchestrate.stores.postgres import PostgresStore
from orchestrate.stores.postgres_schema import SCHEMA_VERSION, ddl
from orchestrate.stores.url import open_store
from testkit.postgres import PostgresCluster
from tests.waiting import wait_until

from .stores import T0, write_turns

reg = Registry()


@reg.activity
def triple(x: int) -> int:
    return 3 * x


@reg.orchestration
async def chain(ctx: OrchestrationContext, x: int) -> int:
    for _ in range(2):
        x = await ctx.activity(triple, x)
    return x


@reg.orchestration
async def waits(ctx: OrchestrationContext, x: int) -> int:
    return x + await ctx.event("go")


def meta(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT key, value FROM orchestrate_meta").fetchall())


# --- URLs --------------------------------------------------------------------------------------


def test_url_options_are_ours_and_the_rest_goes_to_libpq(pg_url: str) -> None:
    store = open_store(pg_url + "&pool_size=3&retry_for=2&connect_timeout=5")
    assert isinstance(store, PostgresStore)
    assert "pool_size" not in store.url and "connect_timeout=5" in store.url
    store.close()
    with pytest.raises(ValueError, match=r"pool_size='many'.*give e.g. pool_size=16"):
        PostgresStore.from_url(pg_url + "&pool_size=many")


def test_the_password_never_shows() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore("postgresql://u:s3cret@127.0.0.1:1/db?connect_timeout=1", retry_for=0)
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)
    assert "cannot reach PostgreSQL" in str(caught.value) and "pg_isready" in str(caught.value)
    assert isinstance(caught.value, StoreUnavailable)  # a worker waits for it to come up
    assert "\t" not in str(caught.value) and "\n" not in str(caught.value)  # libpq's layout


@pytest.mark.parametrize(
    ("path", "fix"),
    [
        ("nobody@/postgres", "fix the user name in the URL, or create the role"),
        ("postgres@/no_such_db", "create the database (createdb NAME"),
    ],
)
def test_a_refusal_for_good_says_so_and_is_not_retried_like_an_outage(
    pg_cluster: PostgresCluster, path: str, fix: str
) -> None:
    url = f"postgresql://{path}?host={pg_cluster.socket_dir}"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    assert not isinstance(caught.value, StoreUnavailable)  # a worker exits at once: no waiting
    assert "refused the connection" in str(caught.value) and fix in str(caught.value)
    assert "waiting will not mend it" in str(caught.value)


@pytest.mark.parametrize(
    ("message", "permanent"),
    [
        ('FATAL:  password authentication failed for user "app"', True),
        ("fe_sendauth: no password supplied", True),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app", database "db"', True),
        ('FATAL:  database "orders" does not exist', True),
        ('FATAL:  pg_hba.conf rejects connection for host "[local]", user "banned"', True),
        ('FATAL:  role "reports" is not permitted to log in', True),
        ('FATAL:  permission denied for database "orders"', True),
        ("Connection refused Is the server running on that host?", False),
        ("FATAL:  the database system is starting up", False),
        ("FATAL:  sorry, too many clients already", False),
        ("server closed the connection unexpectedly", False),
    ],
)
def test_refusals_for_good_are_told_from_failures_that_pass(message: str, permanent: bool) -> None:
    from orchestrate.stores.postgres_db import refusal_fix

    assert (refusal_fix(message) is not None) == permanent


@pytest.mark.parametrize("retry_for", [float("nan"), -1.0, float("inf"), 1e9])
def test_retry_for_out_of_range_is_refused_before_connecting(retry_for: float) -> None:
    with pytest.raises(ValueError, match=r"retry_for=.*from 0 \(fail at once\) to 86400"):
        PostgresStore("postgresql://u@127.0.0.1:1/db", retry_for=retry_for)


# --- schema ------------------------------------------------------------------------------------


def test_a_new_database_gets_the_schema_once_even_when_many_open_it_at_once(pg_url: str) -> None:
    stores: list[PostgresStore] = []
    threads = [
        threading.Thread(target=lambda: stores.append(PostgresStore(pg_url))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores) == 4
    assert meta(pg_url) == {"schema_version": str(SCHEMA_VERSION), "application": "orchestrate"}
    for store in stores:
        store.close()


def test_a_newer_schema_is_refused_and_left_untouched(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE orchestrate_meta SET value = '99' WHERE key = 'schema_version'")
        conn.execute("CREATE TABLE from_the_future (x int)")
    with pytest.raises(StoreError, match=r"schema version 99.*reads up to version 2.*untouched"):
        PostgresStore(pg_url)
    assert meta(pg_url)["schema_version"] == "99"


def test_another_applications_tables_are_refused_untouched(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE instances (id int)")
    with pytest.raises(StoreError, match=r"another application.*untouched"):
        PostgresStore(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)


def test_a_version_1_database_is_migrated_in_place_and_keeps_its_data(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        for statement in ddl(1):
            conn.execute(statement)
        conn.execute("ALTER TABLE instances RESET (fillfactor)")  # as version 1 created it
        conn.execute(
            "INSERT INTO orchestrate_meta VALUES ('schema_version', '1'), "
            "('application', 'orchestrate')"
        )
        conn.execute(
            "INSERT INTO instances VALUES ('old', 'waits', 'pending', '4', 'null', NULL, 'null', "
            "0, 0, 0, NULL, NULL, NULL, 0)"
        )
    store = PostgresStore(pg_url)
    try:
        assert meta(pg_url)["schema_version"] == "2"
        with psycopg.connect(pg_url) as conn:  # instances' pages keep room for updates
            options = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'instances'")
            assert options.fetchone() == (["fillfactor=70"],)
        state = store.get_instance("old")
        assert state is not None and state.input == 4
        Client(store, registry=reg).start("waits", 4, instance_id="w")
        runtime = Runtime(reg, store=store, threads=0)
        runtime.run_until_idle()
        Client(store).raise_event("w", "go", 5)
        runtime.run_until_idle()
        assert Client(store).state("w").output == 9
    finally:
        store.close()


def fillfactor(url: str) -> list[str] | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'instances'").fetchone()
        return None if row is None else row[0]


def test_the_fillfactor_is_left_to_the_owner_and_a_dbas_setting_is_kept(
    pg_cluster: PostgresCluster, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE instances RESET (fillfactor)")  # as older code created it
        conn.execute("DROP ROLE IF EXISTS app")
        conn.execute("CREATE ROLE app LOGIN")
        conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app")
        conn.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app")
    app_url = pg_url.replace("postgresql://postgres@", "postgresql://app@")
    with caplog.at_level(logging.WARNING, logger="orchestrate.store"):
        store = PostgresStore(app_url)  # not the owner: opens, runs, and changes no setting
    client = Client(store, registry=reg)
    client.start("waits", 1, instance_id="w")
    assert client.state("w").status == Status.PENDING
    store.close()
    assert fillfactor(pg_url) is None and not caplog.records
    read_only = pg_url + "&options=-c%20default_transaction_read_only%3Don"
    with caplog.at_level(logging.WARNING, logger="orchestrate.store"):
        store = PostgresStore(read_only)  # the owner, read-only (a reporting tool): one line
    assert [s.instance_id for s in store.list_instances()] == ["w"]
    store.close()
    assert fillfactor(pg_url) is None
    [line] = [r.getMessage() for r in caplog.records]
    assert "fillfactor unset (cannot execute ALTER TABLE in a read-only transaction)" in line
    assert "ALTER TABLE instances SET (fillfactor = 70), run by its owner" in line
    caplog.clear()
    with psycopg.connect(pg_url) as holder:  # a manual VACUUM or DDL holds the table
        holder.execute("LOCK TABLE instances IN SHARE UPDATE EXCLUSIVE MODE")
        with caplog.at_level(logging.WARNING, logger="orchestrate.store"):
            PostgresStore(pg_url + "&options=-c%20statement_timeout%3D100").close()  # opens
        holder.rollback()
    [line] = [r.getMessage() for r in caplog.records]
    assert "fillfactor unset (canceling statement due to lock timeout)" in line
    assert fillfactor(pg_url) is None
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE instances SET (fillfactor = 50)")  # a DBA's choice
    PostgresStore(pg_url).close()
    assert fillfactor(pg_url) == ["fillfactor=50"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("REASSIGN OWNED BY app TO postgres")
        conn.execute("DROP OWNED BY app")
        conn.execute("DROP ROLE app")


# --- claims and wake-ups -----------------------------------------------------------------------


def test_two_stores_never_lock_the_same_instance(pg_url: str) -> None:
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    client = Client(first)
    for i in range(10):
        client.start("flow", i, instance_id=f"i{i}")
    taken_a = first.fetch_orchestration_work(T0, limit=6)
    ids_a = {w.instance.instance_id for w in taken_a}
    taken_b = second.fetch_orchestration_work(T0, limit=6)
    ids_b = {w.instance.instance_id for w in taken_b}
    assert len(ids_a) == 6 and len(ids_b) == 4 and not ids_a & ids_b
    forged = TurnCommit(taken_a[0].instance, taken_b[0].lock_token, [], [])
    assert write_turns(second, [forged]) == [False]
    first.close()
    second.close()


def test_concurrent_claims_from_many_threads_share_out_every_instance_once(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    client = Client(store)
    for i in range(60):
        client.start("flow", i, instance_id=f"i{i:02}")
    taken: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        while works := store.fetch_orchestration_work(T0, limit=3):
            with lock:
                taken.extend(w.instance.instance_id for w in works)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [f"i{i:02}" for i in range(60)]
    store.close()


def test_wait_for_change_wakes_on_a_notify_from_another_store(pg_url: str) -> None:
    watcher, writer = PostgresStore(pg_url), PostgresStore(pg_url)
    woke = threading.Event()

    def wait() -> None:
        watcher.wait_for_change(60)
        woke.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    client = Client(writer)
    starts = iter(range(1000))

    def commit_and_check() -> bool:
        client.start("flow", None, instance_id=f"x{next(starts)}")
        return woke.wait(0.05)

    wait_until(commit_and_check, 10, what="wait_for_change to hear another store's NOTIFY")
    thread.join()
    watcher.close()
    writer.close()


def test_next_wakeup_is_the_earliest_timer_lease_or_lock(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    Client(store).start("flow", None, instance_id="t")
    work = store.fetch_orchestration_work(T0)[0]
    due = T0 + timedelta(seconds=5)
    timer = Message("t", h.TimerFired(due, 0), 0, visible_at=due)
    commit = TurnCommit(work.instance, work.lock_token, [], [m.id for m in work.messages])
    commit.messages.append(timer)
    write_turns(store, [commit])
    assert store.next_wakeup() == due
    store.fetch_orchestration_work(due, lease=60)
    assert store.next_wakeup() == due + timedelta(seconds=60)
    store.close()


def test_an_undecodable_message_fails_only_its_instance(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    client = Client(store)
    client.start("flow", None, instance_id="bad")
    client.start("flow", None, instance_id="good")
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE messages SET event = '{oops' WHERE instance_id = 'bad'")
    works = store.fetch_orchestration_work(T0, limit=10)
    assert [w.instance.instance_id for w in works] == ["good"]
    bad = store.get_instance("bad")
    assert bad is not None and bad.status == Status.FAILED and bad.error is not None
    assert "message" in bad.error.message and "bad" in bad.error.message
    store.close()


def test_a_closed_store_still_serves_threads_winding_down(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.close()
    Client(store).start("flow", None, instance_id="late")
    state = store.get_instance("late")
    assert isinstance(state, InstanceState) and state.status == Status.PENDING
    store.wait_for_change(30)  # returns at once


def test_a_mark_covers_a_notify_from_another_store(pg_url: str) -> None:
    watcher, writer = PostgresStore(pg_url), PostgresStore(pg_url)
    mark = watcher.change_mark()  # starts the listener: commits from here on count
    Client(writer).start("flow", None, instance_id="x")
    assert watcher.wait_for_change(30, mark) is True  # as soon as the NOTIFY arrives
    watcher.close()
    writer.close()


# --- lost connections ----------------------------------------------------------------------------


def test_killed_connections_are_replaced_with_one_line_and_one_when_back(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(pg_url)
    client = Client(store)
    client.start("flow", None, instance_id="a")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with caplog.at_level(logging.WARNING):
        client.start("flow", None, instance_id="b")  # on a dead pooled connection: retried
        assert {s.instance_id for s in store.list_instances()} == {"a", "b"}
    # psycopg's own echo of the lost connection (its pipeline could not end) is not repeated
    lines = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("orchestrate.store: lost the connection to PostgreSQL")
    assert "retrying" in lines[0] and "\t" not in lines[0]
    assert lines[1].startswith("orchestrate.store: ") and "is back" in lines[1]
    store.close()


def test_a_server_restart_loses_nothing_and_workers_carry_on(
    pg_cluster: PostgresCluster, pg_url: str
) -> None:
    with Runtime(reg, store=pg_url, threads=2) as rt:
        first = [rt.start(chain, i, instance_id=f"a{i}") for i in range(20)]
        pg_cluster.pg_ctl("restart")
        second = [rt.start(chain, i, instance_id=f"b{i}") for i in range(20)]
        states = [rt.wait(key, timeout=60) for key in first + second]
    assert [s.output for s in states] == [9 * i for i in range(20)] * 2
    store = PostgresStore(pg_url)
    for key in first + second:
        kinds = [e.kind for e in store.get_history(key)]
        assert kinds.count("OrchestrationCompleted") == 1 and kinds.count("ActivityCompleted") == 2
    store.close()


def test_a_write_that_reads_nothing_on_connections_a_restart_killed_still_applies(
    pg_cluster: PostgresCluster, pg_url: str
) -> None:
    store = PostgresStore(pg_url)
    Client(store).start("flow", None, instance_id="a")
    work = store.fetch_orchestration_work(T0)[0]
    pg_cluster.pg_ctl("restart")  # every pooled connection is dead now
    store.abandon(work)  # deletes a lock and reads nothing: retried on a new connection
    assert [w.instance.instance_id for w in store.fetch_orchestration_work(T0)] == ["a"]
    store.close()


def test_a_server_that_stays_down_is_one_clear_store_error(pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.create_database("gone")
    store = PostgresStore(url, retry_for=0.3)
    pg_cluster.drop_database("gone")  # as good as a server that went away for this store
    with pytest.raises(StoreError, match=r"PostgreSQL.*gone") as caught:
        store.get_instance("x")
    # Unavailable, not damaged: a worker's round backs off; no instance is failed for it.
    assert isinstance(caught.value, StoreUnavailable)
    store.close()


# --- workers -----------------------------------------------------------------------------------


def test_worker_threads_run_every_instance_exactly_once(pg_url: str) -> None:
    with Runtime(reg, store=pg_url, threads=4, batch_size=8) as rt:
        ids = [rt.start(chain, i, instance_id=f"c{i}") for i in range(60)]
        states = [rt.wait(key, timeout=60) for key in ids]
        assert [s.output for s in states] == [9 * i for i in range(60)]
        for key in ids:
            kinds = [e.kind for e in rt.history(key)]
            assert kinds.count("OrchestrationCompleted") == 1
            assert kinds.count("ActivityCompleted") == 2


def test_a_deadlock_between_two_transactions_is_retried_transparently(pg_url: str) -> None:
    from orchestrate.stores.postgres_db import Database

    db = Database(pg_url, where="test")
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE pair (k int PRIMARY KEY, v int)")
        conn.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    meet = threading.Barrier(2)
    attempts: list[int] = []

    def crosswise(first: int, second: int) -> None:
        def fn(conn: psycopg.Connection) -> None:
            attempts.append(first)
            sql = "UPDATE pair SET v = v + 1 WHERE k = %s RETURNING 1"
            conn.execute(sql, (first,)).fetchone()
            if attempts.count(first) == 1:  # only the first attempt waits for the other
                meet.wait(10)
            conn.execute(sql, (second,)).fetchone()

        db.transaction(fn, notify=False)

    threads = [threading.Thread(target=crosswise, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT v FROM pair ORDER BY k").fetchall() == [(2,), (2,)]
    assert len(attempts) == 3  # one of the two was chosen as the victim and ran again
    db.close()
