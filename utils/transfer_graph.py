"""The one graph of stage 4 (alpha2w.py): the frozen finetuned network, a new unseen-class head on its penultimate
features, the head's importances at the alpha layer, and the losses and training ops that match them to the predicted
alphas.

Two paths compute the importances. "full" (the original's): the whole network from probe images at every step.
"cached" (`cache_frozen_features`): the probes' frozen values are computed once and fed at `cache_points`, and only
what lies above them runs. Where the layers above the alpha layer allow it, the importance folds exactly into matrix
products: vgg_16's fc6 reads the whole max-pooled conv5_3 map (utils/importance.folded_importance),
efficientnet_lite0's head is a per-position affine map through a ReLU6, mean-pooled (Alpha2W.gated_head_importance),
and small_cnn's conv4 is read only by a global average pool, at whose output the importance is taken
(utils/importance.global_mean).
"""
import numpy as np

from utils import experiment, frozen_net, importance, unseen_head
from utils.tf_compat import slim, tf, tf1


class Alpha2W:
    """One graph: the frozen net (over probe paths or noise pixels) -> a new unseen head on its penultimate features,
    its importances for fed classes, losses and training ops for the original's path ("full", from images) and the
    cached one (the probes' frozen values fed at `cache_points`)."""

    def __init__(self, cfg, spec, layer, n_seen, init_weights, mean_seen_weight, source, restore=True,
                 seen_order=None):
        """restore=False leaves the network at random weights (speed benchmarks): nothing is read from ckpt_path."""
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf1.set_random_seed(cfg.random_seed)
            self.net = frozen_net.FrozenNet(cfg, n_seen, layer, source, restore=restore,
                                            fallback=experiment.fallback_checkpoint(cfg) if restore else None,
                                            seen_order=seen_order,
                                            zero_seen_biases=cfg.zero_seen_biases,
                                            reinit_beta=cfg.reinit_batchnorm_beta)
            self.seen_logits, self.activations, self.features = \
                self.net.logits, self.net.activations, self.net.features
            pooled = importance.global_mean(self.activations)  # before the importances' gradient ops read them
            self.weights, self.biases, unseen_logits = unseen_head.build(self.features, init_weights)
            self.classes = tf1.placeholder(tf.int32, [None], name="unseen_classes")
            self.targets = tf1.placeholder(tf.float32, [None, self.activations.shape[-1]], name="predicted_alphas")
            self.importances = {"full": importance.class_importance(unseen_logits, self.activations, self.classes)}
            self.cache_points, self.fold_op, self.fold_feed = {"alpha_layer": self.activations}, None, None
            end_points = self.net.end_points
            folded = end_points.get(spec.folded_layer) if layer == spec.alpha_layer else None
            if folded is not None and folded.shape[1:3] == [1, 1]:  # cache above the alpha layer, see folded_layer
                # the layer's pre-activation, and the penultimate one: fixed per probe, so no forward pass runs
                self.cache_points = {"folded": folded.op.inputs[0]}
                if end_points[spec.penultimate_layer].op.type == "Relu":
                    self.cache_points["penultimate"] = end_points[spec.penultimate_layer].op.inputs[0]
                kernel = slim.get_unique_variable(f"{spec.folded_layer}/weights")
                folded_weights = tf1.get_variable("folded_alpha_weights", trainable=False,
                                                  initializer=tf.zeros([kernel.shape[2], kernel.shape[3]]))
                self.fold_op = folded_weights.assign(tf.reduce_sum(kernel, [0, 1]))
                self.importances["cached"] = importance.folded_importance(
                    unseen_logits, self.cache_points["folded"], folded_weights, self.classes)
            elif spec.gated_head and layer == spec.alpha_layer:
                self.importances["cached"] = self.gated_head_importance(end_points[spec.penultimate_layer],
                                                                        unseen_logits)
            elif pooled is not None:  # a global average pool reads the alpha layer: its mean is fed, [K] a probe
                self.cache_points = {"pooled": pooled}
                self.importances["cached"] = importance.class_importance(unseen_logits, pooled, self.classes)
            else:  # the alpha-layer activations are fed; only the layers above them run
                self.importances["cached"] = self.importances["full"]
            # fed per step, so that a validation run trains one head per tuning setting in this one graph
            self.learning_rate = tf1.placeholder_with_default(cfg.learning_rate, [], name="learning_rate")
            self.reg_lambda = tf1.placeholder_with_default(cfg.reg_lambda, [], name="reg_lambda")
            optimizer = unseen_head.optimizer(cfg.optimizer, self.learning_rate)
            self.losses, self.train_ops = {}, {}
            for path, alphas in self.importances.items():
                self.losses[path] = unseen_head.losses(alphas, self.targets, self.weights, mean_seen_weight,
                                                       self.reg_lambda)
                self.train_ops[path] = optimizer.minimize(self.losses[path]["loss"], var_list=[self.weights])
            self.saver = tf1.train.Saver([self.weights, self.biases], max_to_keep=1)
            restored = set(slim.get_model_variables()) if restore else set()
            self.init = tf1.variables_initializer([v for v in tf1.global_variables() if v not in restored])
        self.graph.finalize()

    def gated_head_importance(self, head, unseen_logits):
        """The importances at the alpha layer A through a head h = relu6(z), z = A * M + c at every position (a 1x1
        conv and batch norm), mean-pooled into the features f: sum_p dy/dA_pk = sum_j M[k, j] g_j dy/df_j, with
        g_j = sum_p relu6'(z_pj) / (H W) the share of positions where channel j passes its gradient. g and f are
        fixed per probe and cached ([D] each instead of the [H, W, K] map); M, the head's linear map, is read from
        the graph at start by feeding A the unit vectors (and 0, for c). Exact; 2 [K, D] products a step."""
        pre_activation = head.op.inputs[0]
        gates = tf.reduce_sum(tf.gradients(tf.reduce_sum(self.features), pre_activation)[0], [1, 2])
        self.cache_points = {"gates": gates, "penultimate": self.features}
        channels = self.activations.shape[-1]
        head_map = tf1.get_variable("head_map", trainable=False, initializer=tf.zeros([channels, head.shape[-1]]))
        at_one_position = pre_activation[:, 0, 0, :]
        self.fold_op = head_map.assign(at_one_position[:-1] - at_one_position[-1:])
        basis = np.concatenate([np.eye(channels), np.zeros((1, channels))]).astype(np.float32)
        self.fold_feed = {self.activations: np.tile(basis[:, None, None, :], [1, *self.activations.shape[1:3], 1])}
        return tf.matmul(importance.class_importance(unseen_logits, self.features, self.classes) * gates, head_map,
                         transpose_b=True)

    def start(self, sess):
        """Initialise the unseen head and optimizer, restore the frozen network."""
        sess.run(self.init)
        if self.net.restore is not None:
            self.net.restore(sess)
        if self.fold_op is not None:
            sess.run(self.fold_op, self.fold_feed)

    def reset(self, sess):
        """The unseen head and optimizer back at their initial values (the next tuning setting starts afresh)."""
        sess.run(self.init)
        if self.fold_op is not None:
            sess.run(self.fold_op, self.fold_feed)

    def keep(self, sess, weights, biases):
        """Load a head kept in memory into the variables (to save it)."""
        self.weights.load(weights, sess)
        self.biases.load(biases, sess)

    def step(self, sess, classes, targets, cached=None, hyper=None):
        """One training step on a batch; given `cached` (name -> the probes' values at `cache_points`): the cached
        path, else the batch comes from the image iterator (the original's path); `hyper`: the learning_rate and
        reg_lambda of this step (default: the config's). Returns the batch's losses."""
        feed, path = {self.classes: classes, self.targets: targets}, "full"
        if hyper is not None:
            feed.update({self.learning_rate: hyper["learning_rate"], self.reg_lambda: hyper["reg_lambda"]})
        if cached is not None:
            feed.update({self.cache_points[name]: values for name, values in cached.items()})
            path = "cached"
        return sess.run([self.train_ops[path], self.losses[path]], feed)[1]
