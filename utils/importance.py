"""Neuron importance (NIWT's "alphas"), Grad-CAM maps, and the original release's optional gradient bypasses.

The importance of channel k of a layer A for class c is sum over positions (i, j) of d logit_c / d A_ijk, with the
pre-softmax logit (NIWT's definition; Grad-CAM's alpha up to its 1/Z constant).

Bypasses (`bypass_name`) replace the backward rule of some ops while the net is built, as the original did:
  Max2SumPool         max pool backpropagates as a sum pool (every input of a window gets the window's gradient)
  Max2SumWeighted     ... times A / (sum over positions of A + 1), per image and channel
  Max2SumInvWeighted  ... times (1/(A+1e-5)) / sum over positions of 1/(A+1e-5), per image and channel
  Identity            ReLU backpropagates as the identity
The original computed both weighted rules with a [N, C] sum broadcast against [N, H, W, C] activations, which only
runs at batch size 1; here the sums keep their axes, which equals the original at batch size 1 and makes each image's
result independent of its batch.
"""
import contextlib

import numpy as np

from utils.cli import UserError
from utils.tf_compat import tf, tf1

_INV_WEIGHT_EPS = 1e-5


def class_importance(logits, activations, classes):
    """[N, K] importance of each image's class `classes[n]` at `activations` ([N, H, W, K] or [N, K]).

    One gradient for the whole batch: in inference mode images do not interact, so the gradient of the sum of each
    image's selected logit with respect to an image's activations is that image's own gradient."""
    selected = tf.reduce_sum(logits * tf.one_hot(classes, tf.shape(logits)[1], dtype=logits.dtype))
    gradients = tf.gradients(selected, activations)[0]
    if gradients is None:
        raise UserError(f"the logits do not depend on '{activations.op.name}'; choose a layer below the logits")
    return tf.reduce_sum(gradients, [1, 2]) if gradients.shape.ndims == 4 else gradients


def global_mean(activations):
    """The [N, K] (or [N, 1, 1, K]) spatial mean of `activations` [N, H, W, K] where that mean is all that reads them
    (a global average pool, e.g. small_cnn's conv4), else None. Then the importance can be taken at the mean, exactly:
    each of the H W positions gets 1/(H W) of the mean's gradient, so sum_ij dy/dA_ijk = dy/d mean_k. Call it before
    any gradient op reads `activations`."""
    consumers = activations.consumers()
    if activations.shape.ndims != 4 or len(consumers) != 1 or consumers[0].type != "Mean":
        return None
    axes = tf.get_static_value(consumers[0].inputs[1])
    if axes is None or sorted(int(a) % 4 for a in np.atleast_1d(axes)) != [1, 2]:
        return None
    return consumers[0].outputs[0]


def folded_importance(logits, pre_activation, folded_weights, classes):
    """The same [N, K] importance at an alpha layer A, computed above it: for a dense layer z = W * pool(A) + b that
    reads the whole max- (or average-) pooled map of A, each pooled cell routes its gradient to one input (or
    spreads it evenly), so sum_ij dy/dA_ijk = sum_o (sum over W's spatial taps of W[:, :, k, o]) dy/dz_o.
    `pre_activation` is z ([N, 1, 1, D] or [N, D]); `folded_weights` [K, D] is W summed over its taps."""
    return tf.matmul(class_importance(logits, pre_activation, classes), folded_weights, transpose_b=True)


def gradcam(activations, importances):
    """[N, H, W] Grad-CAM maps ReLU(sum_k alpha_k A^k), min-max normalised per image to [0, 1].

    (The original release skipped the ReLU and normalised over the whole batch; this is Grad-CAM's definition.)"""
    cam = tf.nn.relu(tf.einsum("nhwk,nk->nhw", activations, importances))
    low = tf.reduce_min(cam, [1, 2], keepdims=True)
    high = tf.reduce_max(cam, [1, 2], keepdims=True)
    return (cam - low) / tf.maximum(high - low, 1e-12)


def _sum_pool_gradient(op, grad):
    """The gradient of a sum pool with the max pool's windows: a depthwise transposed conv with a kernel of ones."""
    if op.get_attr("data_format") != b"NHWC":
        raise UserError(f"bypass of '{op.name}': only NHWC max pools are supported")
    _, height, width, _ = op.get_attr("ksize")
    channels = op.inputs[0].shape[-1]
    return tf1.nn.depthwise_conv2d_native_backprop_input(
        input_sizes=tf.shape(op.inputs[0]), filter=tf.ones([height, width, channels, 1], grad.dtype),
        out_backprop=grad, strides=op.get_attr("strides"), padding=op.get_attr("padding"))


@tf.RegisterGradient("Max2SumPool")
def _max_to_sum_pool(op, grad):
    return _sum_pool_gradient(op, grad)


@tf.RegisterGradient("Max2SumWeighted")
def _max_to_sum_weighted(op, grad):
    activations = op.inputs[0]
    weights = activations / (tf.reduce_sum(activations, [1, 2], keepdims=True) + 1.0)
    return _sum_pool_gradient(op, grad) * weights


@tf.RegisterGradient("Max2SumInvWeighted")
def _max_to_sum_inv_weighted(op, grad):
    inverse = 1.0 / (op.inputs[0] + _INV_WEIGHT_EPS)
    return _sum_pool_gradient(op, grad) * inverse / tf.reduce_sum(inverse, [1, 2], keepdims=True)


@tf.RegisterGradient("NiwtIdentityRelu")
def _identity_relu(op, grad):
    return grad


# bypass_name -> (forward op type, registered gradient)
BYPASSES = {
    "Max2SumPool": ("MaxPool", "Max2SumPool"),
    "Max2SumWeighted": ("MaxPool", "Max2SumWeighted"),
    "Max2SumInvWeighted": ("MaxPool", "Max2SumInvWeighted"),
    "Identity": ("Relu", "NiwtIdentityRelu"),
}


def parse_bypass(value, source):
    """The original's `bypass_name` ("None", null, "Max2SumPool" or "Max2SumPool,Identity") -> list of names."""
    if value is None or value == "None":
        return []
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in BYPASSES]
    if unknown:
        raise UserError(f"{source}: 'bypass_name' {unknown[0]!r} is unknown; use \"None\" or a comma-separated list "
                        f"of {', '.join(BYPASSES)}")
    op_types = [BYPASSES[name][0] for name in names]
    if len(set(op_types)) != len(op_types):
        raise UserError(f"{source}: 'bypass_name' {value!r} overrides the {op_types[0]} gradient twice; keep one")
    return names


@contextlib.contextmanager
def bypass_scope(names):
    """Build the net inside this block so that its ops take the bypassed gradients."""
    with tf1.get_default_graph().gradient_override_map(dict(BYPASSES[name] for name in names)):
        yield
