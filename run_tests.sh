#!/usr/bin/env bash
# Sets up the environment if needed, then runs the whole test suite (slowest tests listed at the end).
# `--fast`: only the tests that train no network (about a minute, for editing); other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
if [ "${1:-}" = "--fast" ]; then
  shift
  set -- -m "not slow" "$@"
fi
exec python -m pytest -q --durations=15 tests "$@"
