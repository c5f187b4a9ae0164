#!/usr/bin/env bash
# Quick start: install everything the tests need (Python packages, Debian's chromium) and run the whole suite.
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

# The storage tests run against a real PostgreSQL server (127.0.0.1:5432, user postgres, database test).
PG_URL="${GLMCHAT_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
pg_answers() { .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$PG_URL" 2>/dev/null; }
if ! pg_answers && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "test: PostgreSQL is not answering; trying to start the local cluster" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 20); do pg_answers && break; sleep 0.5; done
fi
pg_answers || { echo "test: FAILED: PostgreSQL does not answer at $PG_URL; the storage tests need it" >&2; exit 1; }

exec .venv/bin/python -m pytest "$@"
