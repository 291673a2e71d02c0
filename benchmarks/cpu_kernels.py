"""Seconds per training step of each network with TensorFlow's oneDNN CPU kernels on and off (utils/tf_compat.py).

TF's x86 wheels enable oneDNN only on some CPUs; the project turns it on everywhere unless TF_ENABLE_ONEDNN_OPTS is
set. Each setting runs in its own process (the choice is read at import), a training step (forward, backward, Adam,
batch-norm updates) on a fixed random batch, and prints seconds per step, the speed-up and the largest difference of
the logits of one batch from the same initial weights (round-off only). Usage:
    python benchmarks/cpu_kernels.py [--nets small_cnn efficientnet_lite0] [--steps 10]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BATCHES = {"small_cnn": 64, "efficientnet_lite0": 16, "resnet_v1_101": 8, "vgg_16": 8}


def measure(name, steps):
    """(seconds per training step, logits of the first batch) of `name` in this process."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from utils import nets_factory
    from utils.tf_compat import tf, tf1

    batch, rng = BATCHES[name], np.random.RandomState(0)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        net = nets_factory.get_network_fn(name, 50, 0.0005, is_training=True)
        size = net.default_image_size
        images = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))
        logits, _ = net(images)
        loss = tf1.losses.sparse_softmax_cross_entropy(tf.constant(rng.randint(0, 50, batch)), logits)
        with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            train_op = tf1.train.AdamOptimizer(1e-3).minimize(loss)
        init = tf1.global_variables_initializer()
    graph.finalize()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        first = sess.run(logits)
        for _ in range(2):  # warm-up: kernel selection and allocation
            sess.run(train_op)
        start = time.perf_counter()
        for _ in range(steps):
            sess.run(train_op)
        return (time.perf_counter() - start) / steps, first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["small_cnn", "efficientnet_lite0"], choices=sorted(BATCHES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # "<net>:<out.npy>": measure in this process
    args = parser.parse_args()
    if args.child:
        name, out = args.child.split(":")
        seconds, logits = measure(name, args.steps)
        np.save(out, logits)
        print(json.dumps({"seconds": seconds}))
        return
    print(f"{'network':<20}{'batch':>6}{'oneDNN off s/step':>19}{'on s/step':>11}{'speed-up':>10}{'max |dlogit|':>14}")
    for name in args.nets:
        row = {}
        for setting in ("0", "1"):
            out = f"/tmp/cpu_kernels_{os.getpid()}_{setting}.npy"
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", f"{name}:{out}",
                                   "--steps", str(args.steps)], env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting},
                                  check=True, capture_output=True, text=True)
            row[setting] = (json.loads(done.stdout.strip().splitlines()[-1])["seconds"], np.load(out))
            os.remove(out)
        off, on = row["0"][0], row["1"][0]
        gap = float(np.abs(row["0"][1] - row["1"][1]).max())
        print(f"{name:<20}{BATCHES[name]:>6}{off:>19.3f}{on:>11.3f}{off / on:>9.2f}x{gap:>14.1e}")


if __name__ == "__main__":
    main()
