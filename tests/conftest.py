"""Session fixtures shared by every test package: a throwaway PostgreSQL server.

`pg_cluster` starts one cluster per test process (each xdist worker has its own, on a Unix
socket in its own temporary directory) the first time a test asks for it, and stops it at the
end of the session. `pg_url` is a fresh, empty database on it for one test.

Without server binaries (or psycopg) the tests that need them are skipped locally, with the
command that installs them; in CI (``CI`` or ``ORCHESTRATE_REQUIRE_POSTGRES`` set, as `make test`
does) they fail instead: no PostgreSQL test is silently skipped there.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from testkit.postgres import INSTALL_HINT, PostgresCluster, PostgresUnavailable

_NAMES = itertools.count(1)


def _required() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in ("CI", "ORCHESTRATE_REQUIRE_POSTGRES")
    )


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tests need a server: {reason}"
    if _required():
        pytest.fail(f"{message} (CI requires them; `make test` installs the server)", pytrace=False)
    pytest.skip(f"{message}; install one with: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A running throwaway PostgreSQL cluster for this test process."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[dev]' installs it)")
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
        raise  # unreachable: skip or fail raised
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty database on the session's cluster, dropped after the test."""
    name = f"t{os.getpid()}_{next(_NAMES)}"
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.drop_database(name)
