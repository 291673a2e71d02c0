"""Seconds per mod2alpha epoch: the exact class-level cosine objective against the original's per-image minibatches.

Random data at AwA2 x resnet_v1_101 scale by default (35 training classes with 20,600 images, 5 validation classes
with 2,900 images, 85 attributes, 2048 alphas); an epoch is the original's number of Adam steps (images / batch) plus
the validation metrics. Usage: python benchmarks/mod2alpha_speed.py [--epochs 3] [--classes 35 5] [--images 590]
"""
import argparse
import os
import sys
import time
import types

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mod2alpha
from utils import importance_map
from utils.tf_compat import tf1


def seconds_per_epoch(cfg, vectors, train, val, epochs):
    trainer = mod2alpha.Trainer(cfg, vectors, train, len(train.alphas))
    with tf1.Session(graph=trainer.graph) as sess:
        sess.run(trainer.init)
        start = time.perf_counter()
        for _ in range(epochs):
            trainer.epoch(sess)
            metrics = importance_map.agreement(sess.run(trainer.all_predictions), val)
        return (time.perf_counter() - start) / epochs, trainer.steps_per_epoch, metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--classes", type=int, nargs=2, default=[35, 5], help="training and validation classes")
    parser.add_argument("--images", type=int, default=590, help="images per class")
    parser.add_argument("--n-attr", type=int, default=85)
    parser.add_argument("--n-alphas", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_classes = sum(args.classes)
    vectors = rng.uniform(0, 100, size=(n_classes, args.n_attr))
    class_index = np.repeat(np.arange(n_classes), args.images)
    class_means = rng.normal(size=(n_classes, args.n_alphas))
    alphas = class_means[class_index] + rng.normal(size=(len(class_index), args.n_alphas))
    in_train = class_index < args.classes[0]
    train = importance_map.AlphaTargets.build(class_index[in_train], alphas[in_train])
    val = importance_map.AlphaTargets.build(class_index[~in_train], alphas[~in_train])
    print(f"mod2alpha epoch, {args.classes[0]} + {args.classes[1]} classes x {args.images} images, {args.n_attr} -> "
          f"{args.n_alphas}, linear, cd, batch 64, {os.cpu_count()} CPU cores")
    for class_level in (True, False):
        cfg = types.SimpleNamespace(random_seed=0, dom2alpha_model="linear", n_alphas=args.n_alphas,
                                    alpha_loss_type="cd", dom2alpha_lambda_reg=0.0, cdl1_reg=1.0,
                                    class_level_loss=class_level, learning_rate=1e-3, dom2alpha_batch_size=64)
        seconds, steps, metrics = seconds_per_epoch(cfg, vectors, train, val, args.epochs)
        print(f"  {'class-level' if class_level else 'per-image  '}: {seconds:.2f} s/epoch ({steps} Adam steps), "
              f"val cosine after {args.epochs} epochs {metrics['cosine']:.4f}", flush=True)


if __name__ == "__main__":
    main()
