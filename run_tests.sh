#!/usr/bin/env bash
# Sets up the environment if needed, lints the code (ruff.toml), then runs the whole test suite (slowest tests listed
# at the end).
# `--fast`: only the tests that train no network (under a minute, for editing); other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
if [ "${1:-}" = "--fast" ]; then
  shift
  set -- -m "not slow" "$@"
fi
ruff check --quiet . || { echo "error: lint failed (ruff, settings in ruff.toml); fix the lines above" >&2; exit 1; }
exec python -m pytest -q --durations=15 tests "$@"
