#!/usr/bin/env bash
# The capacity benchmark (open loop, no browser): bash bench/capacity.sh [--quick] [--no-replicas]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run scripts/setup.sh first" >&2; exit 1; }
"$PY" -c "import matplotlib" 2>/dev/null || { echo "matplotlib missing: .venv/bin/pip install -r bench/requirements.txt" >&2; exit 1; }
exec "$PY" -m bench.capacity "$@"
