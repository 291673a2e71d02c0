#!/usr/bin/env bash
# Extracts seen-class neuron importances: `bash alpha_extraction.sh [SYNTH|SYNTH_val1|AWA2|CUB|CUB_001_050]` runs that dataset's
# shipped configs (default SYNTH, the generated dataset); `bash alpha_extraction.sh path/to/config.json ...` the given.
# Run from anywhere; configs' paths are relative to seen_pretraining/, as in the original release.
set -euo pipefail
cd "$(dirname "$0")"
. ../setup_env.sh
DIR=arg_configs/alpha_extract
case "${1:-SYNTH}" in
  SYNTH) CONFIGS=("$DIR/SYNTH_small_cnn_finetuned_cnn_trainval_alpha_extract_config.json") ;;
  SYNTH_val1) CONFIGS=("$DIR/SYNTH_val1_small_cnn_finetuned_cnn_trainval_alpha_extract_config.json") ;;
  AWA2) CONFIGS=("$DIR/AWA2_vgg_16_finetuned_cnn_trainval_alpha_extract_config.json"
                 "$DIR/AWA2_resnet_v1_101_finetuned_cnn_trainval_alpha_extract_config.json") ;;
  CUB) CONFIGS=("$DIR/CUB_vgg_16_finetuned_cnn_trainval_alpha_extract_config.json"
                "$DIR/CUB_resnet_v1_101_finetuned_cnn_trainval_alpha_extract_config.json") ;;
  CUB_001_050) CONFIGS=("$DIR/CUB_001_050_vgg_16_finetuned_cnn_trainval_alpha_extract_config.json") ;;
  *) CONFIGS=("$@") ;;
esac
for config in "${CONFIGS[@]}"; do
  python alpha_extraction.py "$config"
done
