"""`PostgresCluster`: a throwaway PostgreSQL server for tests and benchmarks.

It runs the distribution's server binaries (``initdb``, ``pg_ctl``) on a fresh data directory in a
temporary folder, listening only on a Unix socket in that folder (no TCP port to collide with),
with ``trust`` authentication for the ``postgres`` role. As root, the server runs as the
``postgres`` OS user (PostgreSQL refuses to run as root); the Debian package creates that user.

    with PostgresCluster.start() as cluster:
        url = cluster.create_database("t1")   # postgresql://postgres@/t1?host=/tmp/...
        ...

`find_binaries()` says where the server binaries are (None when none are installed); `INSTALL_HINT`
is the command that installs them. Used by `tests/conftest.py` (the `pg_cluster` fixture) and by
`bench/postgres_scaling.py`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["INSTALL_HINT", "PostgresCluster", "PostgresUnavailable", "find_binaries"]

INSTALL_HINT = "apt-get install -y postgresql (Debian/Ubuntu; as root), or your OS's package"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries (or no way to run them) on this machine."""


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: $PG_BINDIR, the newest Debian
    ``/usr/lib/postgresql/N/bin``, or ``PATH``; None when there is none."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).parent))
    for directory in candidates:
        if (Path(directory) / "initdb").is_file() and (Path(directory) / "pg_ctl").is_file():
            return Path(directory)
    return None


class PostgresCluster:
    """A running throwaway cluster; `stop()` (or leaving the `with`) shuts it down and deletes it."""

    def __init__(self, root: Path, bindir: Path, user: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.data = root / "data"
        self.socket_dir = root
        self._user = user  # the OS user the server runs as (None: this process's user)

    @classmethod
    def start(
        cls, *, durable: bool = False, settings: dict[str, Any] | None = None
    ) -> PostgresCluster:
        """Create and start a cluster. `durable=False` (tests) turns fsync off: a crash of the
        machine would lose the cluster, which is thrown away anyway; a server restart keeps
        everything committed either way. `settings` are extra ``postgres -c`` options."""
        bindir = find_binaries()
        if bindir is None:
            raise PostgresUnavailable(
                f"no PostgreSQL server binaries (initdb, pg_ctl) found; install them: {INSTALL_HINT}"
            )
        user = None
        if os.geteuid() == 0:
            user = "postgres"
            try:
                import pwd

                entry = pwd.getpwnam(user)
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, but there is no 'postgres' OS user to run the server as "
                    f"(PostgreSQL refuses to run as root); install the server package: {INSTALL_HINT}"
                ) from None
        root = Path(tempfile.mkdtemp(prefix="orchestrate-pg-"))
        os.chmod(root, 0o755)
        if user is not None:
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = cls(root, bindir, user)
        try:
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            options: dict[str, Any] = {
                "listen_addresses": "''",
                "unix_socket_directories": f"'{root}'",
                "max_connections": 200,
                "shared_buffers": "128MB",
            }
            if not durable:
                options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
            options.update(settings or {})
            with open(cluster.data / "postgresql.auto.conf", "a") as conf:
                for key, value in options.items():
                    conf.write(f"{key} = {value}\n")
            cluster.pg_ctl("start")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, tool: str, *args: str) -> str:
        command = [str(self.bindir / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{tool} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def pg_ctl(self, action: str) -> None:
        """``pg_ctl start|stop|restart`` on this cluster, waiting until it is done."""
        log = self.root / "server.log"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "-m", "fast", action
        )

    def url(self, database: str = "postgres") -> str:
        """The store URL of `database` on this cluster (over its Unix socket)."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """Create database `name` (dropped first if it exists); its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (if it runs) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                self.pg_ctl("stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
