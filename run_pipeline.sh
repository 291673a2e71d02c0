#!/usr/bin/env bash
# The main job: sets up the environment (.venv), then runs NIWT end to end on one dataset (default: the generated
# one): generate + prepare, finetune, extract importances, attributes/text -> importances, alpha2w, GZSL table.
# Finished stages are skipped on a second run. Usage: bash run_pipeline.sh [DATASET] [--force STAGE] [--seed N] ...
# (`bash run_pipeline.sh --help` lists the datasets and options; run_pipeline.py holds the logic).
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
exec python run_pipeline.py "$@"
