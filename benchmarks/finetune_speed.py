"""Seconds per epoch of the logits-only finetuning phase, cached features against the frozen trunk run every step.

Runs cnn_finetune.py's phase 1 for a few epochs on a shipped config's data, once per path, each in a fresh folder,
and prints seconds per epoch, the one-off time of the feature bank and the seen-val accuracy after the same number
of epochs. Needs the config's prepared lists and pretrained checkpoint (for the default, CUB classes 001-050 with
EfficientNet-Lite0: `bash run_pipeline.sh cub_001_050 --net efficientnet_lite0 --until convert`). Usage:
    python benchmarks/finetune_speed.py [--config seen_pretraining/arg_configs/seen_finetune/<config>.json]
                                        [--epochs 3] [--views 1]
"""
import argparse
import importlib.util
import os
import sys
import tempfile
import time
import types

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import nets_factory, seen_configs
from utils.grids import log10_grid

DEFAULT = "seen_pretraining/arg_configs/seen_finetune/CUB_001_050_efficientnet_lite0_seen_proposed_finetune.json"


def stage_module():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seen_pretraining", "cnn_finetune.py")
    spec = importlib.util.spec_from_file_location("cnn_finetune", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_phase(cfg, folder, cached, views, epochs):
    """Phase 1 alone for `epochs` epochs (no early stop) in `folder`."""
    cnn_finetune = stage_module()
    cfg = types.SimpleNamespace(**{**vars(cfg), "cache_fc_features": cached, "fc_feature_views": views,
                                   "num_epochs_fc": epochs, "estop_fc": epochs + 1, "finetune_whole_cnn": False})
    data = cnn_finetune.load_lists(cfg, "benchmark")
    setting = {"lr_fc": log10_grid(cfg.lr_fc, "lr_fc", "benchmark")[0],
               "wt_dec": log10_grid(cfg.wt_dec, "wt_dec", "benchmark")[0]}
    start = time.perf_counter()
    state = cnn_finetune.Run(cfg, nets_factory.get_spec(cfg.model_name), data, setting, folder, {}).train()
    total = time.perf_counter() - start
    seconds = [row["seconds"] for row in state["history"]]
    return {"epoch_s": float(np.mean(seconds)), "total_s": total, "val_acc": state["history"][-1]["val_acc"],
            "images": sum(len(lst.paths) for lst in data.values())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--views", type=int, default=1, help="fc_feature_views of the cached path")
    args = parser.parse_args()
    config_path = os.path.abspath(args.config)
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seen_pretraining"))  # the stage's folder
    cfg = seen_configs.load_finetune(config_path)
    print(f"{cfg.model_name} logits-only phase, {args.epochs} epochs, batch {cfg.batch_size}, {os.cpu_count()} cores")
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for cached in (False, True):
            rows[cached] = run_phase(cfg, os.path.join(folder, str(cached)), cached, args.views, args.epochs)
    for cached, row in rows.items():
        bank = row["total_s"] - row["epoch_s"] * args.epochs if cached else 0.0
        print(f"{'cached features' if cached else 'frozen trunk every step'}: {row['epoch_s']:.2f} s per epoch "
              f"({row['images']} images), total {row['total_s']:.1f} s (feature bank {bank:.1f} s), seen-val "
              f"per-class accuracy after {args.epochs} epochs {row['val_acc']:.3f}")
    print(f"speed-up per epoch: {rows[False]['epoch_s'] / max(rows[True]['epoch_s'], 1e-6):.0f}x")


if __name__ == "__main__":
    main()
