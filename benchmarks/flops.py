"""FLOPs counted from a graph and the dense rate of this machine, for the speed benchmarks.

counted_flops: the ops that the fetches need (not, e.g., the weight gradients that tf.gradients also builds and never
runs), 2 per multiply-add of every convolution, depthwise convolution and matrix product, forward and backward.
TensorFlow's own statistic for Conv2DBackpropInput counts the full input size (it would inflate the backward of
vgg_16's fc6, a 7x7 convolution over a 7x7 map, by 49x), so a gradient convolution is counted as its forward.
"""
import time

import numpy as np

from utils.tf_compat import tf, tf1
from tensorflow.python.framework import ops as ops_lib  # noqa: E402 (after tf_compat: its start-up filter)


def counted_flops(graph, fetches):
    """FLOPs of one run of `fetches`: 2 per multiply-add of the convolutions and matrix products they need."""
    needed = tf1.graph_util.extract_sub_graph(graph.as_graph_def(), [getattr(t, "op", t).name for t in fetches])
    total = 0
    for node in needed.node:
        op = graph.get_operation_by_name(node.name)
        if op.type in ("Conv2D", "DepthwiseConv2dNative", "MatMul"):
            total += ops_lib.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
        elif op.type in ("Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput"):
            kernel = op.inputs[1].shape.as_list()  # [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier])
            gradient = op.inputs[2].shape.as_list()  # the output's gradient [N, H, W, out]
            per_output = kernel[0] * kernel[1] * (kernel[2] if op.type == "Conv2DBackpropInput" else 1)
            total += 2 * int(np.prod(gradient)) * per_output
    return total


def matmul_gflops(n=2048, repeats=10):
    """GFLOP/s of a float32 [n, n] x [n, n] product in a session, the dense rate this machine reaches."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.constant(np.random.default_rng(0).normal(size=(n, n)).astype(np.float32))
        product = tf.reduce_sum(tf.matmul(a, a))
    with tf1.Session(graph=graph) as sess:
        sess.run(product)
        start = time.perf_counter()
        for _ in range(repeats):
            sess.run(product)
        return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9
