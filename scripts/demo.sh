#!/usr/bin/env bash
# The README's first command: install what is missing, then run the collector on its
# embedded default settings with simulated Windows machines sending events.
# Options go to `python -m wec.demo` (--machines, --events, --port, --keep-running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.cache/numba}"
exec .venv/bin/python -m wec.demo "$@"
