#!/usr/bin/env bash
# Quick start: install everything the tests need (Python packages, Debian's chromium, nginx and a PostgreSQL
# server with the test database) and run the whole suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" requirements-dev.txt
cd "$ROOT"

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
# Chinese fonts so screenshots show the Chinese UI instead of empty boxes.
# nginx: the replica tests put two app processes behind it (scripts/replicas.sh).
if [ ! -x "$CHROMIUM" ] || [ ! -x /usr/sbin/nginx ] || [ ! -d /usr/share/fonts/opentype/noto ] \
   || [ ! -d /usr/share/fonts/truetype/noto ]; then
  echo "test: installing Debian's chromium, nginx and CJK and emoji fonts for the browser tests" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium nginx fonts-noto-cjk fonts-noto-color-emoji \
    >/dev/null
fi
[ -x "$CHROMIUM" ] || { echo "test: FAILED: no chromium at $CHROMIUM; browser tests cannot run" >&2; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "test: FAILED: no nginx at /usr/sbin/nginx; the replica tests need it" >&2; exit 1; }
export CHROMIUM_PATH="$CHROMIUM"  # the browser tests launch this one (tests/browser.py)

# -- PostgreSQL: the storage, history and replica tests run against a real server ----------------------------
# GLMCHAT_TEST_PG_URL is a plain libpq URI; the tests read the same variable (tests/conftest.py, pg_url).
PG_URL="${GLMCHAT_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
case "$PG_URL" in
  postgresql://*|postgres://*) ;;
  *) echo "test: FAILED: GLMCHAT_TEST_PG_URL must be a plain postgresql:// URI (as libpq takes it), not $PG_URL" >&2
     exit 1 ;;
esac
export GLMCHAT_TEST_PG_URL="$PG_URL"
PY=.venv/bin/python
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# What the server at $PG_URL says: ok, nodb (up, but no such database), auth (up, refuses this user without a
# password), down, or "other: <reason>".
pg_probe() {
  "$PY" - "$PG_URL" <<'PY' 2>/dev/null || echo "other: the probe failed"
import sys
import psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
    print("ok")
except psycopg.Error as exc:
    msg = str(exc)
    if "database" in msg and "does not exist" in msg:
        print("nodb")
    elif any(s in msg for s in ("authentication failed", "no password supplied", "no pg_hba.conf entry")):
        print("auth")
    elif any(s in msg for s in ("Connection refused", "No such file or directory", "timeout expired",
                                "starting up", "shutting down")):
        print("down")
    else:
        print("other: " + " ".join(msg.split())[:300])
PY
}
pg_wait_up() {  # until the server answers at all (30 s at most)
  for _ in $(seq 1 60); do [ "$(pg_probe)" != down ] && return 0; sleep 0.5; done
  return 1
}
pg_fail() {
  echo "test: FAILED: PostgreSQL at $PG_URL: $1" >&2
  echo "test: the storage tests need it (set GLMCHAT_TEST_PG_URL to use another server)" >&2
  exit 1
}

# A server on this machine that does not answer as the tests need is set up here; a remote one never is.
# Least invasive first: a Debian cluster that already serves the URL's port is only started (and given the
# test database); its authentication is changed only if this script made it, or the package this run
# installed did (a fresh, empty cluster). Otherwise a cluster of its own, glmchat_test, is made for the tests.
pg_setup_local() {
  local host port user installed=0 ver name status ours=0 hba
  read -r host port user < <("$PY" -c 'import sys; from psycopg.conninfo import conninfo_to_dict as p
c = p(sys.argv[1]); print(c.get("host") or "localhost", c.get("port") or 5432, c.get("user") or "")' "$PG_URL")
  case "$host" in
    127.0.0.1|localhost|::1) ;;
    *) pg_fail "$(pg_probe); a server on another host is not set up here" ;;
  esac
  [ "$user" = postgres ] || pg_fail "$(pg_probe); only the postgres user is set up here (the default URL)"

  if ! command -v pg_lsclusters >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "test: installing Debian's postgresql for the storage tests" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    installed=1
  fi
  read -r ver name status < <(pg_lsclusters -h | awk -v p="$port" '$3 == p {print $1, $2, $4; exit}') || true
  if [ -z "${ver:-}" ]; then
    ver="$(ls /usr/lib/postgresql | sort -n | tail -n1)"
    name=glmchat_test
    echo "test: no PostgreSQL cluster on port $port; creating $ver/$name for the tests (pg_createcluster)" >&2
    # Not started at boot (manual); peer for local sockets and passwords over TCP, until the line added below.
    $SUDO pg_createcluster "$ver" "$name" --port "$port" --start-conf manual \
      -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    status=down ours=1
  fi
  if [ "$status" != online ]; then
    echo "test: starting PostgreSQL cluster $ver/$name" >&2
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
  fi
  pg_wait_up || pg_fail "cluster $ver/$name did not start (see /var/log/postgresql/postgresql-$ver-$name.log)"

  if [ "$(pg_probe)" = auth ]; then
    hba="/etc/postgresql/$ver/$name/pg_hba.conf"
    if [ "$ours" = 1 ] || [ "$installed" = 1 ]; then
      # Only in a cluster this run made: the postgres role from 127.0.0.1 without a password. The first
      # matching line wins, so it goes first; every other line stays as it was.
      echo "test: letting postgres connect from 127.0.0.1 without a password in $hba" >&2
      $SUDO sed -i '1i host    all    postgres    127.0.0.1/32    trust    # added by glmchat scripts/test.sh' "$hba"
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
      for _ in $(seq 1 30); do [ "$(pg_probe)" != auth ] && break; sleep 0.5; done  # a reload is asynchronous
    else
      pg_fail "cluster $ver/$name refuses the postgres user from 127.0.0.1 without a password, and this script
changes the authentication of no cluster it did not make. Either set GLMCHAT_TEST_PG_URL to a URL with a user
and password that may create databases, or allow postgres yourself: put
  host    all    postgres    127.0.0.1/32    trust
first in $hba, then run: ${SUDO:+$SUDO }pg_ctlcluster $ver $name reload"
    fi
  fi
  if [ "$(pg_probe)" = nodb ]; then
    echo "test: creating the test database" >&2
    "$PY" - "$PG_URL" <<'PY'
import sys
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
name = conninfo_to_dict(sys.argv[1])["dbname"]
with psycopg.connect(make_conninfo(sys.argv[1], dbname="postgres"), autocommit=True, connect_timeout=5) as conn:
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
PY
  fi
}

PG_STATE="$(pg_probe)"
if [ "$PG_STATE" != ok ]; then
  echo "test: PostgreSQL at $PG_URL: $PG_STATE; setting it up" >&2
  pg_setup_local
  PG_STATE="$(pg_probe)"
  [ "$PG_STATE" = ok ] || pg_fail "$PG_STATE, after the set-up"
fi

# Lint and format first (ruff.toml): a quick failure, before the suite's minutes.
.venv/bin/ruff check . || { echo "test: FAILED: ruff check (lint)" >&2; exit 1; }
.venv/bin/ruff format --check . || { echo "test: FAILED: ruff format --check (run .venv/bin/ruff format .)" >&2; exit 1; }

exec .venv/bin/python -m pytest "$@"
