#!/usr/bin/env bash
# Finetunes on the seen classes: `bash cnn_finetune.sh [SYNTH|SYNTH_val1|AWA2|CUB|CUB_001_050]` runs that dataset's shipped
# configs (default SYNTH, the generated dataset); `bash cnn_finetune.sh path/to/config.json ...` runs the given ones.
# Run from anywhere; configs' paths are relative to seen_pretraining/, as in the original release.
set -euo pipefail
cd "$(dirname "$0")"
. ../setup_env.sh
DIR=arg_configs/seen_finetune
case "${1:-SYNTH}" in
  SYNTH) CONFIGS=("$DIR/SYNTH_small_cnn_seen_proposed_finetune.json") ;;
  SYNTH_val1) CONFIGS=("$DIR/SYNTH_val1_small_cnn_seen_proposed_finetune.json") ;;
  AWA2) CONFIGS=("$DIR/AWA2_vgg_16_seen_proposed_finetune.json" "$DIR/AWA2_resnet_v1_101_seen_proposed_finetune_hsearch.json") ;;
  CUB) CONFIGS=("$DIR/CUB_vgg_16_seen_proposed_finetune.json" "$DIR/CUB_resnet_v1_101_seen_proposed_finetune_hsearch.json") ;;
  CUB_001_050) CONFIGS=("$DIR/CUB_001_050_vgg_16_seen_proposed_finetune.json") ;;
  *) CONFIGS=("$@") ;;
esac
for config in "${CONFIGS[@]}"; do
  python cnn_finetune.py "$config"
done
