"""The `orchestrate` CLI: every command against a real SQLite file, its exit codes and messages,
and the `worker` command as a real subprocess stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrate import Client, Registry, Status, Worker
from orchestrate.cli import main
from orchestrate.codec import history_from_json, history_to_json
from orchestrate.stores.sqlite import SqliteStore

reg = Registry()


@reg.activity
def double(x: int) -> int:
    return 2 * x


@reg.orchestration
async def approval(ctx, x: int) -> int:
    y = await ctx.activity(double, x)
    ctx.set_status({"phase": "waiting"})
    bonus = await ctx.event("go")
    return y + bonus


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def settle(db: str) -> None:
    store = SqliteStore(db)
    worker = Worker(reg, store)
    for _ in range(100):
        if not worker.poll_once():
            break
    store.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def started(capsys, db: str, key: str = "a1", value: str = "3") -> None:
    assert run(capsys, "start", "approval", "--input", value, "--id", key, "--db", db)[0] == 0
    settle(db)


def test_start_prints_the_id_and_creates_a_pending_instance(capsys, db: str) -> None:
    code, out, _ = run(capsys, "--db", db, "start", "approval", "--input", "3", "--id", "o-1")
    assert (code, out) == (0, "o-1\n")
    code, out, _ = run(capsys, "start", "approval", "--db", db, "--json")
    key = json.loads(out)["instance_id"]
    state = Client(SqliteStore(db)).state(key)
    assert state.status == Status.PENDING and state.input is None


def test_list_shows_a_table_and_json_filtered_by_status(capsys, db: str) -> None:
    started(capsys, db, "a1")
    run(capsys, "start", "approval", "--input", "1", "--id", "b2", "--db", db)
    code, out, _ = run(capsys, "list", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "INSTANCE",
        "NAME",
        "STATUS",
        "ERROR",
        "UPDATED",
        "CUSTOM",
        "STATUS",
    ]
    assert lines[1].split()[:3] == ["a1", "approval", "running"]
    assert lines[1].endswith('{"phase":"waiting"}')
    assert lines[2].split()[:3] == ["b2", "approval", "pending"]
    code, out, _ = run(capsys, "list", "--status", "running", "--json", "--db", db)
    [row] = json.loads(out)
    assert row["instance_id"] == "a1" and row["custom_status"] == {"phase": "waiting"}


def test_show_prints_a_readable_timeline(capsys, db: str) -> None:
    started(capsys, db)
    run(capsys, "raise-event", "a1", "go", "10", "--db", db)
    settle(db)
    code, out, _ = run(capsys, "show", "a1", "--db", db)
    assert code == 0
    assert "instance   a1  (approval)" in out and "status     completed" in out
    assert 'custom     {"phase":"waiting"}' in out and "output     16" in out
    timeline = [line.split()[1:] for line in out.split("DETAIL\n")[1].splitlines()]
    assert timeline == [
        ["OrchestrationStarted", "approval", "input=3"],
        ["ActivityScheduled", "double", "#0", "input=3"],
        ["ActivityCompleted", "#0", "result=6"],
        ["CustomStatusSet", "#1", 'status={"phase":"waiting"}'],
        ["EventRaised", "go", "input=10"],
        ["OrchestrationCompleted", "output=16"],
    ]
    code, out, _ = run(capsys, "show", "a1", "--json", "--db", db)
    data = json.loads(out)
    assert data["instance"]["output"] == 16 and len(data["history"]) == 6


def test_show_abridges_long_payloads(capsys, db: str) -> None:
    run(capsys, "start", "approval", "--input", json.dumps("x" * 500), "--id", "big", "--db", db)
    settle(db)
    _, out, _ = run(capsys, "show", "big", "--db", db)
    assert "x" * 500 not in out and "..." in out


def test_export_history_prints_exactly_the_replay_format(capsys, db: str) -> None:
    started(capsys, db)
    code, out, _ = run(capsys, "export-history", "a1", "--db", db)
    events = SqliteStore(db).get_history("a1")
    assert code == 0 and out == history_to_json(events, "a1", "approval") + "\n"
    assert history_from_json(out) == events


def test_export_history_all_writes_one_file_per_matching_instance(
    capsys, db: str, tmp_path: Path
) -> None:
    started(capsys, db, "a1")
    started(capsys, db, "a/2")
    out_dir = tmp_path / "histories"
    code, out, _ = run(capsys, "export-history", "--all", "--status", "running", "--db", db,
                       str(out_dir))
    assert code == 0 and out.strip() == f"exported 2 histories to {out_dir}"
    files = sorted(out_dir.iterdir())
    assert len(files) == 2
    assert {history_from_json(f.read_text())[0].instance_id for f in files} == {"a1", "a/2"}
    code, out, _ = run(capsys, "export-history", "--all", "--name", "other", "--json", "--db", db,
                       str(tmp_path / "none"))
    assert code == 0 and json.loads(out) == {"exported": [], "skipped": []}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--all"], "export-history --all needs the directory"),
        (["a1", "--status", "running"], "--status, --name and --since select instances for --all"),
        ([], "export-history needs an instance id, or --all DIR"),
        (["--all", "--status", "done", "d"], "--status 'done' is not a status; use one of pending"),
        (["--all", "--since", "soon", "d"], "--since 'soon' is not a date"),
    ],
)
def test_export_history_usage_errors(capsys, db: str, argv: list[str], message: str) -> None:
    started(capsys, db)
    with pytest.raises(SystemExit) as exit_info:
        main(["export-history", *argv, "--db", db])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_terminate_and_raise_event_steer_the_instance(capsys, db: str) -> None:
    started(capsys, db, "t")
    code, out, _ = run(capsys, "terminate", "t", "--reason", "customer left", "--db", db)
    assert code == 0 and "terminating t" in out
    settle(db)
    state = Client(SqliteStore(db)).state("t")
    assert state.status == Status.TERMINATED and state.error is not None
    assert state.error.message == "customer left"
    code, _, err = run(capsys, "raise-event", "t", "go", "1", "--db", db)
    assert code == 1 and "'t' is terminated; it takes no more messages" in err


def test_purge_by_date_and_by_id(capsys, db: str) -> None:
    for key in ("p1", "p2"):
        started(capsys, db, key)
        run(capsys, "terminate", key, "--db", db)
    run(capsys, "start", "approval", "--input", "1", "--id", "live", "--db", db)
    settle(db)
    code, out, _ = run(capsys, "purge", "--completed-before", "2000-01-01", "--db", db)
    assert (code, out) == (0, "purged 0 finished instance(s)\n")
    assert run(capsys, "purge", "p1", "--json", "--db", db)[1] == '{\n  "purged": 1\n}\n'
    code, out, _ = run(capsys, "purge", "--completed-before", "2999-01-01T00:00:00Z", "--db", db)
    assert out == "purged 1 finished instance(s)\n"
    assert [s.instance_id for s in SqliteStore(db).list_instances()] == ["live"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", "nope"], 1, "no instance with id 'nope'; check the id with `list`"),
        (["start", "approval", "--input", "{bad"], 2, "--input is not valid JSON"),
        (["raise-event", "a1", "go", "tru"], 2, "the event data is not valid JSON"),
        (["purge"], 2, "purge needs an instance id or --completed-before DATE"),
        (["purge", "--completed-before", "last week"], 2, "is not a date; use ISO 8601"),
        (["purge", "a1"], 1, "'a1' is running; terminate it before purging"),
        (["worker", "no_colon"], 2, "must be MODULE:REGISTRY"),
        (["worker", "no_such_module_xyz:reg"], 1, "cannot import 'no_such_module_xyz'"),
        (["worker", "tests.orchestrate.test_cli:nothing"], 1, "has no attribute 'nothing'"),
        (["worker", "tests.orchestrate.test_cli:double"], 1, "is a function, not an orchestrate"),
    ],
)
def test_errors_are_one_line_with_the_right_exit_code(
    capsys, db: str, argv: list[str], code: int, message: str
) -> None:
    started(capsys, db)
    if code == 2:
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--db", db])
        got, err = exc.value.code, capsys.readouterr().err
    else:
        got, _, err = run(capsys, *argv, "--db", db)
    assert got == code
    assert message in err and err.count("\n") == 1 and err.startswith("orchestrate: error: ")


def test_a_missing_database_is_named_not_created(capsys, tmp_path: Path) -> None:
    path = str(tmp_path / "none.db")
    code, _, err = run(capsys, "list", "--db", path)
    assert code == 1 and f"no database at {path!r}; pass --db PATH" in err
    assert not os.path.exists(path)


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["list", "--status", "sleeping"]])
def test_usage_errors_exit_2(capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ui", "--port", "99999"], "argument --port: 99999 is out of range; give a whole number "
         "from 0 to 65535 (0: any free port)"),
        (["ui", "--port", "-1"], "argument --port: -1 is out of range"),
        (["worker", "m:reg", "--grace", "-1"], "argument --grace: '-1' is not a usable number of "
         "seconds; give a number of 0 or more"),
        (["worker", "m:reg", "--activity-lease", "0"], "argument --activity-lease: '0' is not a "
         "usable number of seconds; give a number above 0"),
        (["worker", "m:reg", "--lease", "0"], "argument --lease: '0'"),
        (["worker", "m:reg", "--threads", "0"], "argument --threads: 0 is out of range; give a "
         "whole number of 1 or more"),
        (["worker", "m:reg", "--sync-activities", "0"], "argument --sync-activities: 0"),
        (["worker", "m:reg", "--async-activities", "-2"], "argument --async-activities: -2"),
        (["worker", "m:reg", "--batch-size", "0"], "argument --batch-size: 0"),
        (["list", "--limit", "-5"], "argument --limit: -5 is out of range"),
        (["list", "--limit", "0"], "argument --limit: 0 is out of range"),
    ],
)  # fmt: skip
def test_numbers_out_of_range_are_usage_errors_naming_the_option(
    capsys, argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert message in err and "Traceback" not in err


def test_worker_runs_a_module_registry_until_sigterm(tmp_path: Path, db: str) -> None:
    (tmp_path / "flows.py").write_text(
        textwrap.dedent(
            """
            from orchestrate import Registry
            reg = Registry()

            @reg.activity
            def shout(text: str) -> str:
                return text.upper()

            @reg.orchestration
            async def greet(ctx, name: str) -> str:
                return await ctx.activity(shout, f"hello {name}")
            """
        )
    )
    client = Client(SqliteStore(db))
    client.start("greet", "ada", instance_id="g")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrate", "worker", "flows:reg", "--db", db, "--threads", "1"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert client.wait("g", timeout=30).output == "HELLO ADA"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "orchestrate worker: stopped" in err


def test_db_defaults_to_orchestrate_db_in_the_working_directory(
    capsys, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "list")
    assert code == 1 and "no database at './orchestrate.db'" in err
    assert run(capsys, "start", "approval", "--id", "here")[0] == 0
    assert (tmp_path / "orchestrate.db").exists()
    assert run(capsys, "list", "--json")[1].count('"instance_id": "here"') == 1


def test_worker_guard_calls_is_an_opt_in() -> None:
    from orchestrate.cli import _parser

    assert _parser().parse_args(["worker", "app.flows:reg"]).guard_calls is False
    assert _parser().parse_args(["worker", "app.flows:reg", "--guard-calls"]).guard_calls is True


# --- store URLs and ORCHESTRATE_DB ---------------------------------------------------------------


def test_db_takes_a_postgresql_url_and_orchestrate_db_is_its_default(
    capsys, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrate.stores.postgres import PostgresStore

    assert run(capsys, "start", "approval", "--input", "3", "--id", "p1", "--db", pg_url)[:2] == (
        0,
        "p1\n",
    )
    store = PostgresStore(pg_url)
    worker = Worker(reg, store)
    while worker.poll_once():
        pass
    monkeypatch.setenv("ORCHESTRATE_DB", pg_url)
    code, out, _ = run(capsys, "raise-event", "p1", "go", "1")
    assert code == 0
    while worker.poll_once():
        pass
    code, out, _ = run(capsys, "show", "p1", "--json")
    assert code == 0 and json.loads(out)["instance"]["output"] == 7
    store.close()


def test_a_sqlite_url_in_orchestrate_db_is_used_and_a_bad_url_is_one_line(
    capsys, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATE_DB", f"sqlite:///{db}")
    assert run(capsys, "start", "approval", "--input", "3", "--id", "s1")[:2] == (0, "s1\n")
    assert Client(SqliteStore(db)).state("s1").status == Status.PENDING
    code, _, err = run(capsys, "list", "--db", "redis://nowhere")
    assert code == 1 and err.count("\n") == 1 and "unknown store URL 'redis://nowhere'" in err
