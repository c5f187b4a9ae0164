#!/usr/bin/env bash
# Create .venv and install the pinned requirements; sourced by start.sh and test.sh.
# Usage: source scripts/setup.sh [requirements file]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQS="${1:-requirements.txt}"
PY="${PYTHON:-python3}"

command -v "$PY" >/dev/null || { echo "setup: $PY not found; install Python 3.11+" >&2; exit 1; }
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: Python 3.11+ is required" >&2; exit 1; }

if [ ! -x "$ROOT/.venv/bin/python" ]; then
  if ! "$PY" -m venv "$ROOT/.venv" 2>/dev/null; then
    # Debian/Ubuntu ship venv separately.
    echo "setup: installing python3-venv" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv
    rm -rf "$ROOT/.venv"; "$PY" -m venv "$ROOT/.venv"
  fi
fi
# Reinstall only when the requirements changed since the last install.
STAMP="$ROOT/.venv/.installed-$(basename "$REQS")"
SUM="$(cat "$ROOT/requirements.txt" "$ROOT/$REQS" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$SUM" ]; then
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/$REQS"
  echo "$SUM" > "$STAMP"
fi
