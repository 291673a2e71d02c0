#!/usr/bin/env bash
# The main job: sets up the environment, then runs the NIWT pipeline on one dataset (default: the generated one).
# Today: generate the dataset (if missing), prepare its GZSL splits, and (generated dataset) finetune small_cnn on
# the seen classes, extract its neuron importances and learn attributes/text -> importances; alpha2w comes next.
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
  bash seen_pretraining/cnn_finetune.sh SYNTH
  bash seen_pretraining/alpha_extraction.sh SYNTH
  bash mod2alpha.sh SYNTH
fi
