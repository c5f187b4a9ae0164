#!/usr/bin/env bash
# One command for the whole benchmark: bash bench/run.sh [--quick] [--only ttft,rerun] [--keep] ...
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
if ! "$PY" -c "import matplotlib" 2>/dev/null; then
  echo "matplotlib missing: the plot falls back to Pillow (pip install -r bench/requirements.txt for the nicer one)" >&2
fi
exec "$PY" -m bench.run "$@"
