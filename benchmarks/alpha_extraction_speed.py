"""Images per second of neuron-importance extraction (the alpha_extraction.py graph) on this machine, and the
floating-point rate it achieves beside a dense matrix product measured in the same run.

Random weights and random input batches held in memory, so the figures are the network's forward pass plus both
importance gradients (ground-truth and predicted class), without JPEG decoding. FLOPs are counted from the graph
(benchmarks/flops.py). Usage:
    python benchmarks/alpha_extraction_speed.py [--nets vgg_16 resnet_v1_101 small_cnn] [--batch-sizes 8 32]
"""
import argparse
import os
import sys
import time

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flops import counted_flops, matmul_gflops
from utils import importance, nets_factory
from utils.tf_compat import tf, tf1


def images_per_second(name, batch_size, batches, num_classes=40):
    """(images per second, FLOPs per image) of extraction with `name` at `batch_size`."""
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        network_fn = nets_factory.get_network_fn(name, num_classes, is_training=False)
        size = network_fn.default_image_size
        images = tf1.placeholder(tf.float32, [batch_size, size, size, 3])
        labels = tf1.placeholder(tf.int64, [batch_size])
        logits, end_points = network_fn(images)
        activations = end_points[network_fn.spec.alpha_layer]
        fetches = [importance.class_importance(logits, activations, labels),
                   importance.class_importance(logits, activations, tf.argmax(logits, 1))]
        init = tf1.global_variables_initializer()
        flops = counted_flops(fetches) / batch_size
    graph.finalize()
    rng = np.random.default_rng(0)
    feed = {images: rng.normal(scale=50.0, size=images.shape.as_list()).astype(np.float32),
            labels: rng.integers(0, num_classes, batch_size)}
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(fetches, feed)  # warm-up: allocation and kernel selection
        start = time.perf_counter()
        for _ in range(batches):
            sess.run(fetches, feed)
        return batch_size * batches / (time.perf_counter() - start), flops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["vgg_16", "resnet_v1_101", "small_cnn"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--batches", type=int, default=3, help="timed batches per setting (after one warm-up)")
    args = parser.parse_args()
    dense = matmul_gflops()
    print(f"alpha extraction, random weights, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}; dense float32 "
          f"2048x2048 matrix product: {dense:.1f} GFLOP/s")
    print("| net | image | alpha layer | batch | images/s | GFLOP/image | GFLOP/s | of the matmul rate |\n"
          "|---|---|---|---|---|---|---|---|")
    for name in args.nets:
        spec = nets_factory.get_spec(name)
        for batch_size in args.batch_sizes:
            batches = args.batches * (20 if name == "small_cnn" else 1)
            rate, flops = images_per_second(name, batch_size, batches)
            achieved = rate * flops / 1e9
            print(f"| {name} | {spec.default_image_size} | {spec.alpha_layer} | {batch_size} | {rate:.1f} | "
                  f"{flops / 1e9:.2f} | {achieved:.1f} | {100 * achieved / dense:.0f} % |", flush=True)
    print(f"(the matrix product again, after the runs: {matmul_gflops():.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
