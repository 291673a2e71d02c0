import numpy as np
import pytest

from utils import checkpoints, nets_factory
from utils.cli import UserError
from utils.tf_compat import tf, tf1


def build(name, num_classes, image_size=None, is_training=False):
    graph = tf.Graph()
    with graph.as_default():
        network_fn = nets_factory.get_network_fn(name, num_classes, is_training=is_training)
        size = image_size or network_fn.default_image_size
        images = tf1.placeholder(tf.float32, [2, size, size, 3])
        logits, end_points = network_fn(images)
        features = nets_factory.penultimate_features(network_fn.spec, end_points)
        shapes = {v.op.name: v.shape.as_list() for v in tf1.global_variables()}
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
    return network_fn.spec, logits, end_points, features, shapes, updates


def test_vgg_16_matches_the_public_checkpoint():
    spec, logits, end_points, features, shapes, _ = build("vgg_16", 1000)
    assert len(shapes) == 32
    assert shapes["vgg_16/conv5/conv5_3/weights"] == [3, 3, 512, 512]
    assert shapes["vgg_16/conv1/conv1_1/weights"] == [3, 3, 3, 64]
    assert shapes["vgg_16/fc6/weights"] == [7, 7, 512, 4096]
    assert shapes["vgg_16/fc8/weights"] == [1, 1, 4096, 1000] and shapes["vgg_16/fc8/biases"] == [1000]
    assert logits.shape.as_list() == [2, 1000]
    assert end_points[spec.alpha_layer].shape.as_list() == [2, 14, 14, spec.alpha_channels] == [2, 14, 14, 512]
    assert features.shape.as_list() == [2, spec.penultimate_dims] == [2, 4096]
    assert all(name.startswith(spec.logits_scope) for name in shapes if "fc8" in name)


@pytest.mark.slow
def test_resnet_v1_101_builds_with_batch_norm_and_matches_the_public_checkpoint():
    spec, logits, end_points, features, shapes, updates = build("resnet_v1_101", 1000, is_training=True)
    assert len(shapes) == 522
    assert shapes["resnet_v1_101/logits/weights"] == [1, 1, 2048, 1000]
    assert shapes["resnet_v1_101/block4/unit_1/bottleneck_v1/conv1/BatchNorm/moving_mean"] == [512]
    assert shapes["resnet_v1_101/conv1/BatchNorm/gamma"] == [64]
    assert shapes["resnet_v1_101/block3/unit_23/bottleneck_v1/conv3/weights"] == [1, 1, 256, 1024]
    assert logits.shape.as_list() == [2, 1000]  # squeezed from slim's [N, 1, 1, C]
    assert end_points[spec.alpha_layer].shape.as_list() == [2, 7, 7, 2048]
    assert features.shape.as_list() == [2, 2048]
    assert len(updates) == 2 * 104  # moving mean and variance of every batch norm, run with the train op


def test_small_cnn_declares_what_the_stages_need():
    spec, logits, end_points, features, shapes, updates = build("small_cnn", 7, is_training=True)
    assert logits.shape.as_list() == [2, 7]
    assert end_points[spec.alpha_layer].shape.as_list() == [2, 8, 8, spec.alpha_channels]
    assert features.shape.as_list() == [2, spec.penultimate_dims]
    assert shapes[f"{spec.logits_scope}/weights"] == [spec.penultimate_dims, 7]
    assert len(updates) == 8  # four batch-normalised convs


def variable_value(sess, name):
    return sess.run(next(v for v in tf1.global_variables() if v.op.name == name))


@pytest.mark.slow
def test_checkpoint_restores_by_name_except_the_logits_scope(tmp_path):
    """A 40-class vgg_16 restores everything but its logits from a 1000-class vgg_16 checkpoint (the public one's
    names and shapes); without the exclusion, the logits' shape mismatch is a clear error."""
    ckpt = str(tmp_path / "vgg_16.ckpt")
    with tf.Graph().as_default():
        nets_factory.get_network_fn("vgg_16", 1000)(tf1.placeholder(tf.float32, [1, 224, 224, 3]))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            conv1 = variable_value(sess, "vgg_16/conv1/conv1_1/weights")
            fc7 = variable_value(sess, "vgg_16/fc7/weights")
            tf1.train.Saver().save(sess, ckpt, write_meta_graph=False)
    with tf.Graph().as_default():
        tf1.set_random_seed(1)
        network_fn = nets_factory.get_network_fn("vgg_16", 40)
        network_fn(tf1.placeholder(tf.float32, [1, 224, 224, 3]))
        init_fn = checkpoints.restore_fn(ckpt, exclude_scopes=[network_fn.spec.logits_scope])
        with pytest.raises(UserError, match="'vgg_16/fc8/weights' has shape \\[1, 1, 4096, 1000\\] in the checkpoint"):
            checkpoints.restore_fn(ckpt)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            init_fn(sess)
            np.testing.assert_array_equal(variable_value(sess, "vgg_16/conv1/conv1_1/weights"), conv1)
            np.testing.assert_array_equal(variable_value(sess, "vgg_16/fc7/weights"), fc7)
            assert variable_value(sess, "vgg_16/fc8/weights").shape == (1, 1, 4096, 40)


def test_unknown_network_is_a_clear_error():
    with pytest.raises(UserError, match="Name of network unknown: 'vgg16'.*resnet_v1_101"):
        nets_factory.get_network_fn("vgg16", 10)


@pytest.mark.parametrize("name, image_size", [("small_cnn", None), ("efficientnet_lite0", 96),
                                              pytest.param("vgg_16", None, marks=pytest.mark.slow),
                                              pytest.param("resnet_v1_101", 64, marks=pytest.mark.slow)])
def test_the_logits_are_a_dense_map_of_the_penultimate_features(name, image_size):
    """What cached-feature finetuning relies on: at inference, the net's logits equal dense_logits of its
    penultimate features (random weights and biases)."""
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        network_fn = nets_factory.get_network_fn(name, 7)
        size = image_size or network_fn.default_image_size
        images = tf1.placeholder(tf.float32, [2, size, size, 3])
        logits, end_points = network_fn(images)
        features = nets_factory.penultimate_features(network_fn.spec, end_points)
        dense = nets_factory.dense_logits(network_fn.spec, features)
        biases = [v for v in tf1.global_variables() if v.op.name == f"{network_fn.spec.logits_scope}/biases"]
        randomise = [b.assign(tf1.random_normal(b.shape)) for b in biases]  # slim starts them at 0
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(randomise)
        pixels = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3))
        net_logits, dense_values = sess.run([logits, dense], {images: pixels})
    np.testing.assert_allclose(dense_values, net_logits, rtol=1e-4, atol=1e-4 * np.abs(net_logits).max())
