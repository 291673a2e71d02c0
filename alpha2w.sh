#!/usr/bin/env bash
# Solves for unseen-class weights from predicted importances and evaluates GZSL:
# `bash alpha2w.sh [SYNTH|SYNTH_val1|SYNTH_small|AWA2|CUB|CUB_001_050]` runs that run's experiment configs in
# arg_configs/pipelines.json (default SYNTH, the generated dataset, whose calibration gamma comes from the SYNTH_val1
# validation run: run that first); `bash alpha2w.sh path/to/config.json ...` the given ones. Configs' paths are
# relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
CONFIGS="$(python -m utils.pipeline configs alpha2w "$@")"
while read -r config; do
  python alpha2w.py --config_json "$config"
done <<< "$CONFIGS"
