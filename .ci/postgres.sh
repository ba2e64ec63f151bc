#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) are installed: the test suite starts a
# throwaway cluster from them (testkit/postgres.py). Installs the distribution's package when
# they are missing (Debian/Ubuntu, as root); the server itself is not left running by us.
set -euo pipefail
have_server() {
    [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ] && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    command -v initdb >/dev/null 2>&1
}
if have_server; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server not found: installing the distribution's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    have_server && exit 0
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) are missing and could not be installed;" \
     "install them (Debian/Ubuntu: sudo apt-get install -y postgresql) or set PG_BINDIR" >&2
exit 1
