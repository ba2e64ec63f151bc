"""`testkit.postgres`: where the server binaries are found, the error without them, and a
throwaway cluster's databases (the session's cluster, see `tests/conftest.py`)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from testkit import postgres
from testkit.postgres import INSTALL_HINT, PostgresCluster, PostgresUnavailable, find_binaries


def test_pg_bindir_is_used_first_when_it_holds_the_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tool in ("initdb", "pg_ctl"):
        (tmp_path / tool).write_text("")
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    assert find_binaries() == tmp_path
    monkeypatch.setenv("PG_BINDIR", str(tmp_path / "missing"))
    assert find_binaries() != tmp_path / "missing"


def test_without_binaries_the_error_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres, "find_binaries", lambda: None)
    with pytest.raises(PostgresUnavailable) as caught:
        PostgresCluster.start()
    assert INSTALL_HINT in str(caught.value) and "initdb" in str(caught.value)


def test_databases_are_created_empty_and_dropped(pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.create_database("scratch")
    assert url.startswith("postgresql://postgres@/scratch?host=")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (x int)")
    assert pg_cluster.create_database("scratch") == url  # made again: empty
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'").fetchone()
        assert found == (0,)
    pg_cluster.drop_database("scratch")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url).close()
