"""Nets factory (the tf-slim research/slim pattern): one place that knows every network and what NIWT needs of it.

Each entry declares the default neuron-importance ("alpha") layer, the penultimate features that classifier heads
read, the logits scope that finetuning re-initialises, the default image size and preprocessing.
"""
import dataclasses
import functools

from utils.tf_compat import slim, tf, tf1  # before tf_slim: TensorFlow's start-up lines are filtered there
from tf_slim.nets import resnet_v1, vgg

from utils import checkpoints, config, efficientnet_lite, small_cnn
from utils.cli import UserError
from utils.config import AT_LEAST_ONE, DERIVED, Field


@dataclasses.dataclass(frozen=True)
class NetSpec:
    net_fn: object                 # net(images, num_classes, is_training, ...) -> (logits, end_points)
    arg_scope_fn: object           # arg_scope(weight_decay=...)
    default_image_size: int
    alpha_layer: str               # end-point name of the default alpha layer
    alpha_channels: int
    penultimate_layer: str         # end point whose (spatial mean of) activations feed the classifier heads
    penultimate_dims: int
    logits_scope: str              # re-initialised when finetuning on new classes
    preprocessing: str             # default name in the preprocessing factory
    takes_dropout: bool = True
    folded_layer: str = None       # a dense layer over the pooled alpha layer: importances fold through it (alpha2w)
    gated_head: bool = False       # the penultimate map is a per-position affine map of the alpha layer through a
    #                                ReLU(6), mean-pooled: importances fold through it (alpha2w)

    @property
    def model_class(self):
        """The original's model_class: the module the net comes from (vgg, resnet_v1, small_cnn, efficientnet)."""
        return self.net_fn.__module__.rsplit(".", 1)[-1].replace("efficientnet_lite", "efficientnet")


NETWORKS = {
    "vgg_16": NetSpec(
        net_fn=vgg.vgg_16, arg_scope_fn=vgg.vgg_arg_scope, default_image_size=224,
        alpha_layer="vgg_16/conv5/conv5_3", alpha_channels=512,
        penultimate_layer="vgg_16/fc7", penultimate_dims=4096,
        logits_scope="vgg_16/fc8", preprocessing="vgg_preprocessing", folded_layer="vgg_16/fc6"),
    "resnet_v1_101": NetSpec(
        net_fn=resnet_v1.resnet_v1_101, arg_scope_fn=resnet_v1.resnet_arg_scope, default_image_size=224,
        alpha_layer="resnet_v1_101/block4/unit_1/bottleneck_v1", alpha_channels=2048,
        penultimate_layer="resnet_v1_101/block4", penultimate_dims=2048,
        logits_scope="resnet_v1_101/logits", preprocessing="vgg_preprocessing", takes_dropout=False),
    "small_cnn": NetSpec(
        net_fn=small_cnn.small_cnn, arg_scope_fn=small_cnn.small_cnn_arg_scope,
        default_image_size=small_cnn.small_cnn.default_image_size,
        alpha_layer="small_cnn/conv4", alpha_channels=128,
        penultimate_layer="small_cnn/fc5", penultimate_dims=128,
        logits_scope="small_cnn/logits", preprocessing="small_cnn_preprocessing"),
    # Alpha layer: the last block's output (320 channels, 7x7), not the 1280-channel head. The head is global-mean
    # pooled into the linear logits, so the spatially summed gradient there equals the class's logit weights for
    # every image; one layer lower it passes the head's ReLU6 gates and depends on the image, as NIWT needs.
    "efficientnet_lite0": NetSpec(
        net_fn=efficientnet_lite.efficientnet_lite0, arg_scope_fn=efficientnet_lite.efficientnet_lite0_arg_scope,
        default_image_size=efficientnet_lite.efficientnet_lite0.default_image_size,
        alpha_layer="efficientnet_lite0/blocks_15", alpha_channels=320,
        penultimate_layer="efficientnet_lite0/head", penultimate_dims=efficientnet_lite.HEAD_CHANNELS,
        logits_scope="efficientnet_lite0/logits", preprocessing="efficientnet_preprocessing", gated_head=True),
}


# The config keys (the original release's names) by which every stage picks and feeds its network. Only model_name is
# needed: the others follow from it (a stated model_class or scope must agree; image_size and preprocess_fn default
# to the net's and may be changed).
MODEL_FIELDS = {
    "model_class": Field((str,), default=DERIVED, help="family of model_name: vgg, resnet_v1, small_cnn, efficientnet"),
    "model_name": Field((str,), choices=tuple(NETWORKS)),
    "scope": Field((str,), default=DERIVED, help="the net's arg scope, e.g. vgg_arg_scope"),
    "image_size": Field((int,), default=DERIVED, valid=AT_LEAST_ONE, help="default: the net's"),
    "preprocess_fn": Field((str,), default=DERIVED, help="default: the net's preprocessing"),
}


def get_spec(name):
    if name not in NETWORKS:
        raise UserError(f"Name of network unknown: '{name}'; choose one of {', '.join(sorted(NETWORKS))}")
    return NETWORKS[name]


def spec_from_config(cfg, source):
    """The NetSpec of a stage config's `model_name`; fills in the MODEL_FIELDS it leaves out and checks those it
    states against the net."""
    spec = get_spec(cfg.model_name)
    if cfg.model_class is not DERIVED and not cfg.model_name.startswith(cfg.model_class):
        raise UserError(f"{source}: 'model_class' {cfg.model_class} does not match 'model_name' {cfg.model_name}")
    config.default(cfg, "model_class", spec.model_class)
    config.settle(cfg, "scope", spec.arg_scope_fn.__name__, source, f"model_name {cfg.model_name}")
    config.default(cfg, "image_size", spec.default_image_size)
    config.default(cfg, "preprocess_fn", spec.preprocessing)
    return spec


def penultimate_features(spec, end_points):
    """[N, D] features that the seen and unseen classifier heads read (spatial mean where the end point is a map)."""
    features = end_points[spec.penultimate_layer]
    if features.shape.ndims == 4:
        features = tf.reduce_mean(features, [1, 2], name="penultimate_mean")
    return features


def model_variable(name):
    """The variable of checkpoint name `name` in the current graph; also in a replica of a tf.distribute strategy,
    where slim's lookup by op name misses mirrored variables."""
    found = [v for v in tf1.global_variables() if checkpoints.variable_name(v) == name]
    if len(found) != 1:
        raise ValueError(f"{len(found)} variables named {name!r} in the graph")
    return found[0]


def dense_logits(spec, features):
    """The logits layer as a matrix product over the penultimate features [N, D] (each net's logits are a fully
    connected layer, or a 1x1 convolution over a 1x1 map, of them): the seen head without the trunk."""
    weights = model_variable(f"{spec.logits_scope}/weights")
    biases = model_variable(f"{spec.logits_scope}/biases")
    return tf.matmul(features, tf.reshape(weights, [-1, weights.shape[-1]])) + biases


def get_network_fn(name, num_classes, weight_decay=0.0, is_training=False, dropout_keep_prob=0.5):
    """Return net(images) -> (logits [N, num_classes], end_points), with `.spec` attached."""
    spec = get_spec(name)

    @functools.wraps(spec.net_fn)
    def network_fn(images):
        kwargs = {"dropout_keep_prob": dropout_keep_prob} if spec.takes_dropout else {}
        with slim.arg_scope(spec.arg_scope_fn(weight_decay=weight_decay)):
            logits, end_points = spec.net_fn(images, num_classes, is_training=is_training, **kwargs)
        if logits.shape.ndims == 4:  # slim's resnet_v1 logits are [N, 1, 1, C]
            logits = tf.squeeze(logits, [1, 2], name="squeezed_logits")
        return logits, end_points

    network_fn.spec = spec
    network_fn.default_image_size = spec.default_image_size
    return network_fn
