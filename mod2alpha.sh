#!/usr/bin/env bash
# Learns domain knowledge -> neuron importances: `bash mod2alpha.sh [SYNTH|SYNTH_val1|AWA2|CUB|CUB_001_050]` runs
# that dataset's shipped experiment configs (default SYNTH, the generated dataset; the table is
# arg_configs/experiment_configs.sh); `bash mod2alpha.sh path/to/config.json ...` the given ones. Run from anywhere;
# configs' paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
. arg_configs/experiment_configs.sh
experiment_configs "$@"
for config in "${CONFIGS[@]}"; do
  python mod2alpha.py "$config"
done
