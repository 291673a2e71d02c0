"""Seconds per alpha2w training step: the cached path (the probes' frozen values fed each step: the alpha layer's
activations; for vgg_16 fc6's and fc7's pre-activations; for efficientnet_lite0 its head's gates and features) against
the original's path (the whole frozen network on every step).

Random weights and random uint8 probe images (no JPEG decoding, preprocessing included on the original's path), the
nets at their default sizes (vgg_16, resnet_v1_101: 224; small_cnn: 64), 10 / 50 unseen classes, Adam.
FLOPs per step are counted from the graph (benchmarks/flops.py): their ratio is the speed-up the cached path can
reach by skipping the layers below the alpha layer.
Usage: python benchmarks/alpha2w_speed.py [--nets vgg_16 resnet_v1_101 small_cnn efficientnet_lite0] [--batch 8]
[--steps 3 20]
"""
import argparse
import os
import sys
import time
import types

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flops import counted_flops
from utils import nets_factory, transfer_graph
from utils.tf_compat import tf1

N_SEEN, N_UNSEEN = 40, 10


def config(spec, name, batch_size):
    return types.SimpleNamespace(
        random_seed=0, image_size=spec.default_image_size, preprocess_fn=spec.preprocessing, batch_size=batch_size,
        num_workers=2, model_name=name, reg_lambda=1e-3, optimizer="adam", learning_rate=1e-3, ckpt_path=None,
        zero_seen_biases=False, reinit_batchnorm_beta=False)


def seconds_per_step(name, batch_size, full_steps, cached_steps):
    """(cached s/step, original s/step, {path: FLOPs per step}) for one net, after one warm-up step each."""
    spec = nets_factory.get_spec(name)
    rng = np.random.default_rng(0)
    init = rng.normal(size=(spec.penultimate_dims, N_UNSEEN)) * 0.01
    model = transfer_graph.Alpha2W(config(spec, name, batch_size), spec, spec.alpha_layer, N_SEEN, init,
                                   init.mean(1), "benchmark", restore=False)
    size = spec.default_image_size
    pixels = rng.integers(0, 256, size=((full_steps + 1) * batch_size, size, size, 3), dtype=np.uint8)
    classes = rng.integers(0, N_UNSEEN, size=batch_size).astype(np.int32)
    targets = rng.normal(size=(batch_size, spec.alpha_channels)).astype(np.float32)
    flops = {path: counted_flops([op], model.cache_points.values() if path == "cached" else (), batch_size)
             for path, op in model.train_ops.items()}
    with tf1.Session(graph=model.graph) as sess:
        model.start(sess)
        cached = model.net.run(sess, pixels[:batch_size], model.cache_points, "probes")
        timings = {}
        for path, steps in (("cached", cached_steps), ("full", full_steps)):
            if path == "full":
                model.net.feed(sess, pixels)
            feed = cached if path == "cached" else None
            model.step(sess, classes, targets, feed)  # warm-up
            start = time.perf_counter()
            for _ in range(steps):
                model.step(sess, classes, targets, feed)
            timings[path] = (time.perf_counter() - start) / steps
    return timings["cached"], timings["full"], flops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["vgg_16", "resnet_v1_101", "small_cnn"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, nargs=2, default=[3, 20], help="timed steps: original path, cached path")
    args = parser.parse_args()
    print(f"alpha2w seconds per training step, batch {args.batch}, random weights, {os.cpu_count()} CPU cores")
    print("| net | image size | cached s/step | original s/step | speed-up | GFLOP/step cached | original | "
          "FLOP ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.nets:
        cached, full, flops = seconds_per_step(name, args.batch, *args.steps)
        size = nets_factory.get_spec(name).default_image_size
        print(f"| {name} | {size} | {cached:.4f} | {full:.3f} | {full / cached:.1f}x | {flops['cached'] / 1e9:.2f} | "
              f"{flops['full'] / 1e9:.2f} | {flops['full'] / flops['cached']:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
