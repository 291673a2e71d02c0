#!/usr/bin/env bash
# The main job: sets up the environment, then runs the NIWT pipeline on one dataset (default: the generated one).
# Generate the dataset (if missing) and prepare its GZSL splits; on the generated dataset, run the four stages twice:
# first the validation run (SYNTH_val1: valclasses1 play the unseen classes; it selects the calibration gamma), then
# the final run (finetune small_cnn, extract importances, attributes/text -> importances, alpha2w + GZSL table).
# Usage: bash run_pipeline.sh [synth|cub|awa2|cub_001_050_shared]
set -euo pipefail
cd "$(dirname "$0")"
. ./setup_env.sh
DATASET="${1:-synth}"
CONFIG="arg_configs/prepare/${DATASET}.json"
if [ ! -f "$CONFIG" ]; then
  echo "error: $CONFIG not found; choose one of: $(ls arg_configs/prepare | sed 's/\.json$//' | tr '\n' ' ')" >&2
  exit 2
fi
if [ "$DATASET" = synth ] && [ ! -f data/synth/generation.json ]; then
  python -m utils.synthetic --out data/synth
fi
python -m utils.prepare_data "$CONFIG"
if [ "$DATASET" = synth ]; then
  python -m utils.prepare_data arg_configs/prepare/synth_val1.json
  for RUN in SYNTH_val1 SYNTH; do
    bash seen_pretraining/cnn_finetune.sh "$RUN"
    bash seen_pretraining/alpha_extraction.sh "$RUN"
    bash mod2alpha.sh "$RUN"
    bash alpha2w.sh "$RUN"
  done
fi
