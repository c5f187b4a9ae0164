#!/usr/bin/env bash
# Quick start: install everything the tests need (Python packages, Debian's chromium) and run the whole suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" requirements-dev.txt
cd "$ROOT"

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
# Chinese fonts so screenshots show the Chinese UI instead of empty boxes.
if [ ! -x "$CHROMIUM" ] || [ ! -d /usr/share/fonts/opentype/noto ] || [ ! -d /usr/share/fonts/truetype/noto ]; then
  echo "test: installing Debian's chromium and CJK and emoji fonts for the browser tests" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null
fi
[ -x "$CHROMIUM" ] || { echo "test: FAILED: no chromium at $CHROMIUM; browser tests cannot run" >&2; exit 1; }

exec .venv/bin/python -m pytest "$@"
