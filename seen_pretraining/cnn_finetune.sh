#!/usr/bin/env bash
# Finetunes on the seen classes with each shipped config given (default: the generated dataset's).
# Run from anywhere; configs' paths are relative to seen_pretraining/, as in the original release.
set -euo pipefail
cd "$(dirname "$0")"
. ../setup_env.sh
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(arg_configs/seen_finetune/SYNTH_small_cnn_seen_proposed_finetune.json)
for config in "${CONFIGS[@]}"; do
  python cnn_finetune.py "$config"
done
