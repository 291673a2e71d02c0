#!/usr/bin/env bash
# The standard GZSL baselines (ESZSL, SAE, ALE, SJE, DeViSE) on the features alpha2w.py wrote:
# `bash baselines.sh [SYNTH|SYNTH_val1|SYNTH_small|AWA2|CUB|CUB_001_050]` runs that run's experiment configs in
# arg_configs/pipelines.json (default SYNTH; its calibration comes from the SYNTH_val1 run: run that first);
# `bash baselines.sh path/to/config.json ...` the given ones.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
CONFIGS="$(python -m utils.pipeline configs baselines "$@")"
while read -r config; do
  python baselines.py --config_json "$config"
done <<< "$CONFIGS"
