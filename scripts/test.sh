#!/usr/bin/env bash
# Set up both environments, then lint, type-check and run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/test_catalog.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --ref
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
export ZHPLM_REQUIRE_ORACLES=${ZHPLM_REQUIRE_ORACLES:-1}
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
