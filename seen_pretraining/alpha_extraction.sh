#!/usr/bin/env bash
# Extracts seen-class neuron importances: `bash alpha_extraction.sh [SYNTH|SYNTH_val1|SYNTH_small|AWA2|CUB|CUB_001_050]`
# runs that run's configs in arg_configs/pipelines.json (default SYNTH, the generated dataset); `bash
# alpha_extraction.sh path/to/config.json ...` the given ones. Run from anywhere; configs' paths are relative to
# seen_pretraining/, as in the original release.
set -euo pipefail
cd "$(dirname "$0")"
. ../setup_env.sh
CONFIGS="$(python -m utils.pipeline configs alpha_extract "$@")"
while read -r config; do
  python alpha_extraction.py "$config"
done <<< "$CONFIGS"
