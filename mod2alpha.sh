#!/usr/bin/env bash
# Learns domain knowledge -> neuron importances: `bash mod2alpha.sh [SYNTH|SYNTH_val1|SYNTH_small|AWA2|CUB|CUB_001_050]`
# runs that run's experiment configs in arg_configs/pipelines.json (default SYNTH, the generated dataset); `bash
# mod2alpha.sh path/to/config.json ...` the given ones. Run from anywhere; configs' paths are relative to the
# repository root.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
CONFIGS="$(python -m utils.pipeline configs mod2alpha "$@")"
while read -r config; do
  python mod2alpha.py "$config"
done <<< "$CONFIGS"
