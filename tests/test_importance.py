"""Neuron importance is the spatially summed gradient of a pre-softmax logit; the bypasses follow their definitions."""
import numpy as np
import pytest

from utils import importance, nets_factory
from utils.cli import UserError
from utils.tf_compat import tf, tf1


def test_importance_of_a_linear_head_on_average_pooled_features_is_the_class_weight_vector():
    """logit_c = w_c . mean_ij A_ij + b_c, so sum_ij d logit_c / d A_ijk = w_ck exactly (the 1/HW pooling constant
    cancels against the sum over the H x W positions)."""
    rng = np.random.default_rng(0)
    weights, biases = rng.normal(size=(6, 4)), rng.normal(size=4)
    activations_value = rng.normal(size=(3, 5, 7, 6))
    classes_value = np.array([2, 0, 3])
    with tf.Graph().as_default():
        activations = tf1.placeholder(tf.float64, [None, 5, 7, 6])
        logits = tf.matmul(tf.reduce_mean(activations, [1, 2]), weights) + biases
        alphas = importance.class_importance(logits, activations, tf.constant(classes_value))
        with tf1.Session() as sess:
            result = sess.run(alphas, {activations: activations_value})
    np.testing.assert_allclose(result, weights[:, classes_value].T, rtol=1e-12)


def test_the_importance_at_a_global_mean_equals_the_summed_importance_at_the_map_it_pools():
    """global_mean finds a map's global average pool only where nothing else reads the map, and the importance taken at
    the pooled vector (fc ReLU -> logits above it) is the one summed over the map's positions."""
    rng = np.random.default_rng(1)
    fc, head = rng.normal(size=(6, 8)), rng.normal(size=(8, 4))
    values = rng.normal(size=(3, 5, 7, 6))
    with tf.Graph().as_default():
        classes = tf.constant([1, 3, 0])
        activations = tf1.placeholder(tf.float64, [None, 5, 7, 6])
        logits = tf.matmul(tf.nn.relu(tf.matmul(tf.reduce_mean(activations, [1, 2]), fc)), head)
        pooled = importance.global_mean(activations)
        assert pooled.shape.as_list() == [None, 6]
        at_map = importance.class_importance(logits, activations, classes)
        at_mean = importance.class_importance(logits, pooled, classes)
        with tf1.Session() as sess:
            map_value, mean_value = sess.run([at_map, at_mean], {activations: values})
        other = tf1.placeholder(tf.float64, [None, 5, 7, 6])
        assert importance.global_mean(other) is None  # nothing reads it
        tf.reduce_mean(other, [2])
        assert importance.global_mean(other) is None  # a mean over one axis only
        read_twice = tf1.placeholder(tf.float64, [None, 5, 7, 6])
        tf.reduce_mean(read_twice, [1, 2]), tf.reduce_max(read_twice)
        assert importance.global_mean(read_twice) is None  # something else reads the map too
    np.testing.assert_allclose(mean_value, map_value, rtol=1e-12)
    assert np.abs(map_value).max() > 0


def tiny_net(activations, rng):
    """conv -> ReLU -> 2x2 max pool -> global mean -> fc ReLU -> logits, in float64 (a finite-difference target)."""
    kernel = tf.constant(rng.normal(size=(3, 3, 4, 5)))
    net = tf.nn.relu(tf.nn.conv2d(activations, kernel, 1, "SAME"))
    net = tf.nn.max_pool2d(net, 2, 2, "VALID")
    net = tf.nn.relu(tf.matmul(tf.reduce_mean(net, [1, 2]), rng.normal(size=(5, 8))) + 0.1)
    return tf.matmul(net, rng.normal(size=(8, 3)))


def test_importance_matches_central_finite_differences_on_a_tiny_net():
    """Adding eps to channel k at every position moves logit_c by eps * sum_ij d logit_c / d A_ijk."""
    rng = np.random.default_rng(1)
    value = rng.normal(size=(2, 6, 6, 4))
    classes = np.array([1, 2])
    eps = 1e-6
    with tf.Graph().as_default():
        activations = tf1.placeholder(tf.float64, [None, 6, 6, 4])
        logits = tiny_net(activations, rng)
        alphas = importance.class_importance(logits, activations, tf.constant(classes))
        with tf1.Session() as sess:
            analytic = sess.run(alphas, {activations: value})
            numeric = np.zeros_like(analytic)
            for k in range(4):
                step = np.zeros_like(value)
                step[..., k] = eps
                up, down = (sess.run(logits, {activations: value + s}) for s in (step, -step))
                numeric[:, k] = (up - down)[np.arange(2), classes] / (2 * eps)
    assert np.abs(analytic).min() > 1e-3  # not a trivially zero comparison
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_importance_of_small_cnn_at_its_alpha_layer_matches_finite_differences():
    """The same check through the real small_cnn graph (inference mode), feeding its conv4 end point."""
    rng = np.random.default_rng(2)
    with tf.Graph().as_default():
        tf1.set_random_seed(0)
        network_fn = nets_factory.get_network_fn("small_cnn", 5)
        logits, end_points = network_fn(tf1.placeholder(tf.float32, [2, 64, 64, 3]))
        conv4 = end_points[network_fn.spec.alpha_layer]
        classes = np.array([4, 1])
        alphas = importance.class_importance(logits, conv4, tf.constant(classes))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            value = np.abs(rng.normal(size=(2, 8, 8, 128))).astype(np.float32)  # post-ReLU activations
            analytic = sess.run(alphas, {conv4: value})
            eps, channels = 1e-2, [0, 17, 64, 127]
            numeric = np.zeros((2, len(channels)))
            for j, k in enumerate(channels):
                step = np.zeros_like(value)
                step[..., k] = eps
                up, down = (sess.run(logits, {conv4: value + s}) for s in (step, -step))
                numeric[:, j] = (up - down)[np.arange(2), classes] / (2 * eps)
    np.testing.assert_allclose(analytic[:, channels], numeric, rtol=2e-3, atol=1e-4)


def bypass_gradient(names, build, value):
    """d sum(build(x)) / dx at `value`, with the ops of `build` created under the given bypasses."""
    with tf.Graph().as_default():
        x = tf1.placeholder(tf.float64, value.shape)
        with importance.bypass_scope(names):
            y = build(x)
        gradient = tf.gradients(tf.reduce_sum(y), x)[0]
        with tf1.Session() as sess:
            return sess.run(gradient, {x: value})


WINDOW_WEIGHTS = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)  # one weight per 2x2 pooling window


def weighted_pool(x):
    return tf.nn.max_pool2d(x, 2, 2, "VALID") * WINDOW_WEIGHTS


def test_max2sumpool_gives_every_input_of_a_window_the_window_gradient():
    value = np.random.default_rng(3).normal(size=(1, 4, 4, 1))
    upsampled = np.repeat(np.repeat(WINDOW_WEIGHTS, 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(bypass_gradient(["Max2SumPool"], weighted_pool, value), upsampled)
    exact = bypass_gradient([], weighted_pool, value)
    assert np.count_nonzero(exact) == 4  # the true max-pool gradient reaches one input per window


def test_weighted_bypasses_follow_the_original_formula_per_image():
    rng = np.random.default_rng(4)
    batch = np.abs(rng.normal(size=(2, 4, 4, 3)))
    weights = np.repeat(np.repeat(WINDOW_WEIGHTS, 2, axis=1), 2, axis=2)
    for name, coefficient in (
            ("Max2SumWeighted", lambda a: a / (a.sum(axis=(1, 2), keepdims=True) + 1.0)),
            ("Max2SumInvWeighted", lambda a: (1 / (a + 1e-5)) / (1 / (a + 1e-5)).sum(axis=(1, 2), keepdims=True))):
        together = bypass_gradient([name], weighted_pool, batch)
        np.testing.assert_allclose(together, weights * coefficient(batch), rtol=1e-10)
        alone = bypass_gradient([name], weighted_pool, batch[1:])  # batch size 1, where the original ran
        np.testing.assert_allclose(together[1:], alone, rtol=1e-12)


def test_identity_bypass_passes_gradient_through_relu_where_it_is_negative():
    value = np.array([[-2.0, -0.5, 0.5, 2.0]])
    np.testing.assert_array_equal(bypass_gradient([], tf.nn.relu, value), [[0, 0, 1, 1]])
    np.testing.assert_array_equal(bypass_gradient(["Identity"], tf.nn.relu, value), [[1, 1, 1, 1]])


def test_bypass_names_parse_like_the_original_config():
    assert importance.parse_bypass("None", "cfg") == [] and importance.parse_bypass(None, "cfg") == []
    assert importance.parse_bypass("Max2SumPool,Identity", "cfg") == ["Max2SumPool", "Identity"]
    with pytest.raises(UserError, match="cfg: 'bypass_name' 'MaxToSum' is unknown"):
        importance.parse_bypass("MaxToSum", "cfg")
    with pytest.raises(UserError, match="overrides the MaxPool gradient twice"):
        importance.parse_bypass("Max2SumPool,Max2SumWeighted", "cfg")


def test_gradcam_is_the_relu_of_the_weighted_maps_normalised_per_image():
    activations_value = np.zeros((2, 2, 2, 2))
    activations_value[0, :, :, 0] = [[1, 2], [3, 4]]
    activations_value[0, :, :, 1] = [[4, 0], [0, 0]]
    activations_value[1, :, :, 0] = [[10, 0], [0, 30]]
    weights = np.array([[1.0, -1.0], [2.0, 0.0]])
    with tf.Graph().as_default():
        cams = tf1.Session().run(importance.gradcam(tf.constant(activations_value), tf.constant(weights)))
    # image 0: weighted sum [[-3, 2], [3, 4]] -> ReLU [[0, 2], [3, 4]] -> / 4; image 1: [[20, 0], [0, 60]] -> / 60
    np.testing.assert_allclose(cams[0], [[0, 0.5], [0.75, 1]])
    np.testing.assert_allclose(cams[1], [[1 / 3, 0], [0, 1]])
