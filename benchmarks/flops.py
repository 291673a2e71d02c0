"""FLOPs counted from a graph and the dense rate of this machine, for the speed benchmarks.

counted_flops: the ops that a run of the fetches executes (not, e.g., the weight gradients that tf.gradients also
builds and never runs, nor what lies below a fed tensor), 2 per multiply-add of every convolution, depthwise
convolution and matrix product, forward and backward (a gradient convolution as its forward), from the ops' static
shapes. TensorFlow's own statistic is not used: for Conv2DBackpropInput it counts the full input size, which inflates
the backward of vgg_16's fc6 (a 7x7 convolution over a 7x7 map) 49 times, and it refuses an unknown batch size.
"""
import os
import sys
import time

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.tf_compat import tf, tf1


def _shape(tensor, batch):
    return [batch if d is None else d for d in tensor.shape.as_list()]


def needed_ops(fetches, fed=()):
    """The ops one run of `fetches` (tensors or ops) executes when the tensors `fed` are fed."""
    fed, seen = set(fed), set()
    stack = [getattr(t, "op", t) for t in fetches]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        stack += [t.op for t in op.inputs if t not in fed] + list(op.control_inputs)
    return seen


def counted_flops(fetches, fed=(), batch=None):
    """FLOPs of one run of `fetches` with `fed` fed: 2 per multiply-add of the convolutions and matrix products
    that it executes; unknown (batch) dimensions are `batch`."""
    total = 0
    for op in needed_ops(fetches, fed):
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):  # per output element: kh * kw (* in) multiply-adds
            kernel = _shape(op.inputs[1], batch)
            total += 2 * int(np.prod(_shape(op.outputs[0], batch))) * kernel[0] * kernel[1] * (
                kernel[2] if op.type == "Conv2D" else 1)
        elif op.type in ("Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropInput",
                         "DepthwiseConv2dNativeBackpropFilter"):  # as the forward convolution
            # (input or its sizes, filter or its sizes, the output's gradient); a filter gradient has its shape
            kernel = _shape(op.inputs[1] if op.type.endswith("Input") else op.outputs[0], batch)
            per_output = kernel[0] * kernel[1] * (kernel[2] if "Depthwise" not in op.type else 1)
            total += 2 * int(np.prod(_shape(op.inputs[2], batch))) * per_output
        elif op.type == "MatMul":
            a = _shape(op.inputs[0], batch)
            inner = a[0] if op.get_attr("transpose_a") else a[1]
            total += 2 * int(np.prod(_shape(op.outputs[0], batch))) * inner
    return total


def matmul_gflops(n=2048, repeats=10):
    """GFLOP/s of a float32 [n, n] x [n, n] product in a session, the dense rate this machine reaches."""
    graph = tf.Graph()
    with graph.as_default():  # a variable, not a constant, which the graph optimizer would fold away
        a = tf1.get_variable("a", initializer=np.random.default_rng(0).normal(size=(n, n)).astype(np.float32))
        product = tf.reduce_sum(tf.matmul(a, a))
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(product)
        start = time.perf_counter()
        for _ in range(repeats):
            sess.run(product)
        return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9
