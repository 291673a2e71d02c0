#!/usr/bin/env bash
# Solves for unseen-class weights from predicted importances and evaluates GZSL:
# `bash alpha2w.sh [SYNTH|SYNTH_val1|AWA2|CUB|CUB_001_050]` runs that dataset's shipped experiment configs (default
# SYNTH, the generated dataset, whose calibration gamma comes from the SYNTH_val1 validation run: run that first);
# `bash alpha2w.sh path/to/config.json ...` the given ones. Configs' paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
DIR=arg_configs
case "${1:-SYNTH}" in
  SYNTH) CONFIGS=("$DIR/small_cnn_config_SYNTH.json" "$DIR/small_cnn_config_SYNTH_captions.json") ;;
  SYNTH_val1) CONFIGS=("$DIR/small_cnn_config_SYNTH_val1.json" "$DIR/small_cnn_config_SYNTH_val1_captions.json") ;;
  AWA2) CONFIGS=("$DIR/vgg16_config_AWA2.json" "$DIR/resnet_config_AWA2.json") ;;
  CUB) CONFIGS=("$DIR/vgg16_config_CUB.json" "$DIR/resnet_config_CUB.json" "$DIR/vgg16_config_CUB_captions.json"
                "$DIR/resnet_config_CUB_captions.json") ;;
  CUB_001_050) CONFIGS=("$DIR/vgg16_config_CUB_001_050.json" "$DIR/vgg16_config_CUB_001_050_captions.json") ;;
  *) CONFIGS=("$@") ;;
esac
for config in "${CONFIGS[@]}"; do
  python alpha2w.py --config_json "$config"
done
