#!/usr/bin/env bash
# Solves for unseen-class weights from predicted importances and evaluates GZSL:
# `bash alpha2w.sh [SYNTH|SYNTH_val1|AWA2|CUB|CUB_001_050]` runs that dataset's shipped experiment configs (default
# SYNTH, the generated dataset, whose calibration gamma comes from the SYNTH_val1 validation run: run that first; the
# table is arg_configs/experiment_configs.sh); `bash alpha2w.sh path/to/config.json ...` the given ones. Configs'
# paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
. arg_configs/experiment_configs.sh
experiment_configs "$@"
for config in "${CONFIGS[@]}"; do
  python alpha2w.py --config_json "$config"
done
