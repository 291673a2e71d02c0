#!/usr/bin/env bash
# Sets up the environment if needed, then runs the whole test suite (13-14 minutes on 2 cores; slowest tests listed at the end).
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
exec python -m pytest -q --durations=15 tests "$@"
