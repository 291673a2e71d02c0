"""small_cnn: a four-conv network with batch norm for 64x64 images, small enough to train on 2 CPU cores in minutes.

Shaped like the slim nets it stands in for: conv blocks whose last conv (`conv4`, post-ReLU) is the neuron-importance
layer, a global spatial mean, one hidden fully connected layer (`fc5`, the penultimate features) and `logits`.
"""
from utils.tf_compat import slim, tf


def small_cnn_arg_scope(weight_decay=0.0005, batch_norm_decay=0.9):
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        weights_regularizer=slim.l2_regularizer(weight_decay),
                        activation_fn=tf.nn.relu):
        with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm, padding="SAME"):
            with slim.arg_scope([slim.batch_norm], decay=batch_norm_decay, scale=True) as scope:
                return scope


def small_cnn(inputs, num_classes, is_training=True, dropout_keep_prob=0.5, scope="small_cnn"):
    """Returns (logits [N, num_classes], end_points keyed by scope name)."""
    with tf.compat.v1.variable_scope(scope, "small_cnn", [inputs]) as sc:
        end_points_collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                            outputs_collections=end_points_collection), \
                slim.arg_scope([slim.batch_norm], is_training=is_training):
            net = slim.conv2d(inputs, 32, [3, 3], scope="conv1")
            net = slim.max_pool2d(net, [2, 2], scope="pool1")
            net = slim.conv2d(net, 64, [3, 3], scope="conv2")
            net = slim.max_pool2d(net, [2, 2], scope="pool2")
            net = slim.conv2d(net, 128, [3, 3], scope="conv3")
            net = slim.max_pool2d(net, [2, 2], scope="pool3")
            net = slim.conv2d(net, 128, [3, 3], scope="conv4")
            net = tf.reduce_mean(net, [1, 2], name="global_pool")
            net = slim.fully_connected(net, 128, scope="fc5")
            net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout5")
            logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="logits")
        end_points = slim.utils.convert_collection_to_dict(end_points_collection)
        end_points["predictions"] = tf.nn.softmax(logits, name="predictions")
        return logits, end_points


small_cnn.default_image_size = 64
