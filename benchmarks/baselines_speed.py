"""Seconds of each GZSL baseline of baselines.py (selection on validation classes + refit + scoring) on a run's
features. Default: CUB classes 001-050 with EfficientNet-Lite0 (1280-d features; run
`bash run_pipeline.sh cub_001_050 --net efficientnet_lite0 --until alpha2w` first). Usage:
    python benchmarks/baselines_speed.py [--config arg_configs/<net>_config_<DATASET>.json]
"""
import argparse
import os
import sys
import time

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import baselines
from utils import experiment, splits, zsl_baselines

DEFAULT = "arg_configs/efficientnet_lite0_config_CUB_001_050.json"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT)
    args = parser.parse_args()
    cfg = experiment.load(args.config, "alpha2w")
    prepared = splits.load_prepared(cfg.prepared_dir)
    features = baselines.load_features(cfg, prepared, args.config)
    S = baselines.class_matrix(cfg, prepared)
    split = baselines.class_split(cfg, prepared, args.config)
    print(f"{cfg.dataset} {cfg.model_name}: {features['trainval_features'].shape[1]}-d features, "
          f"{len(features['trainval_labels'])} trainval images, {S.shape[1]}-d attributes, {os.cpu_count()} cores")
    total = time.perf_counter()
    for baseline in zsl_baselines.BASELINES:
        start = time.perf_counter()
        record, _ = baselines.run_baseline(baseline, features, S, split, cfg, {}, False)
        print(f"{baseline.name:14s} {len(zsl_baselines.settings(baseline)):2d} settings: "
              f"{time.perf_counter() - start:6.1f} s (T1 {record['T1']:.3f}, H {record['H']:.3f})")
    print(f"all five (six with both SAE directions): {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    main()
