#!/usr/bin/env bash
# Quick start: install what the app needs and run it (offline demo model when no key is set).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" requirements.txt
cd "$ROOT"
exec .venv/bin/python -m streamlit run app.py "$@"
