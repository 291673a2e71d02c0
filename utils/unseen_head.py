"""NIWT's unseen-class head: a linear classifier parallel to the seen head, on the same penultimate features, whose
weights are solved for so that its neuron importances match the importances predicted from domain knowledge.

The importance of an unseen class c is linear in its weight vector w_c (the frozen network's Jacobian times w_c),
so the cosine loss fixes each w_c's direction in the span the alpha layer sees, not its length, and never reaches
the biases; `reg_lambda` pulls w_c towards the mean seen weight, as in the original.
"""
import numpy as np

from utils import checkpoints, importance_map
from utils.cli import UserError
from utils.tf_compat import tf, tf1

SCOPE = "unseen_logits"
DIRECT_LAMBDAS = 10.0 ** np.arange(-3, 7)  # wide: with tens of classes and hundreds of dims strong shrinkage can win


def seen_head(checkpoint_prefix, logits_scope, n_seen, order=None):
    """The finetuned seen head from a checkpoint: weights [D, n_seen] (any 1x1-conv shape flattened), biases; with
    `order` (class_order.seen_logit_order), its columns in the prepared class order."""
    reader = checkpoints.reader(checkpoint_prefix)
    names = reader.get_variable_to_shape_map()
    for suffix in ("weights", "biases"):
        if f"{logits_scope}/{suffix}" not in names:
            raise UserError(f"{checkpoint_prefix}: has no '{logits_scope}/{suffix}'; is it a finetuned checkpoint of "
                            "this network ('model_name')?")
    weights = reader.get_tensor(f"{logits_scope}/weights")
    weights = weights.reshape(-1, weights.shape[-1])
    if weights.shape[1] != n_seen:
        raise UserError(f"{checkpoint_prefix}: its seen head has {weights.shape[1]} classes but the prepared split "
                        f"has {n_seen} seen classes; use the network finetuned on this prepared folder")
    biases = reader.get_tensor(f"{logits_scope}/biases")
    if order is not None:
        weights, biases = weights[:, order], biases[order]
    return weights.astype(np.float64), biases.astype(np.float64)


def initial_weights(seen_weights, n_unseen, how, rng):
    """[D, n_unseen]: `seen_centered` draws each input dim from N(mean, std) of the seen weights of that dim (std
    over classes, population form as in the original); `seen_mean` copies the mean seen weight vector; `xavier` is
    slim's default initialiser of a new layer (Glorot uniform), which the original's VGG alpha2w used for any value
    other than seen_centered."""
    mean = seen_weights.mean(1, keepdims=True)
    if how == "seen_mean":
        return np.repeat(mean, n_unseen, 1)
    if how == "xavier":
        limit = np.sqrt(6.0 / (seen_weights.shape[0] + n_unseen))
        return rng.uniform(-limit, limit, (seen_weights.shape[0], n_unseen))
    std = seen_weights.std(1, keepdims=True)
    return mean + std * rng.standard_normal((seen_weights.shape[0], n_unseen))


def build(features, init_weights):
    """Unseen weights W [D, n_unseen] (trainable, from `init_weights`), biases b (zeros, as the original's layer
    initialiser; no gradient reaches them) and logits features @ W + b."""
    with tf1.variable_scope(SCOPE):
        weights = tf1.get_variable("weights", initializer=tf.constant(init_weights, tf.float32))
        biases = tf1.get_variable("biases", initializer=tf.zeros([init_weights.shape[1]]), trainable=False)
    return weights, biases, tf.matmul(features, weights) + biases


def losses(alphas, predicted_alphas, weights, mean_seen_weight, reg_lambda):
    """{alpha_loss, reg_loss, loss}: mean over examples of 1 - cos(predicted alpha of c, importance `alphas` of unseen
    class c), plus reg_lambda * 1/2 sum_c ||w_c - mean seen weight||^2 (dimn_wise_l2)."""
    cosine = tf.reduce_sum(tf.nn.l2_normalize(predicted_alphas, 1) * tf.nn.l2_normalize(alphas, 1), 1)
    alpha_loss = tf.reduce_mean(1.0 - cosine)
    reg_loss = tf.nn.l2_loss(weights - tf.constant(mean_seen_weight[:, None], tf.float32))
    return {"alpha_loss": alpha_loss, "reg_loss": reg_loss, "loss": alpha_loss + reg_lambda * reg_loss}


def optimizer(name, learning_rate):
    """The original's three: adam, sgd, sgd_momentum (momentum 0.9)."""
    if name == "adam":
        return tf1.train.AdamOptimizer(learning_rate)
    if name == "sgd":
        return tf1.train.GradientDescentOptimizer(learning_rate)
    return tf1.train.MomentumOptimizer(learning_rate, momentum=0.9)


def norm_matched(weights, biases, seen_weights, seen_biases):
    """The unseen head rescaled so that every w_c has the mean seen weight norm and every bias the mean seen bias:
    the cosine loss leaves both free, and without this GZSL at gamma = 0 depends on them (option
    `unseen_norm_matching`)."""
    target = np.linalg.norm(seen_weights, axis=0).mean()
    scaled = weights * (target / np.maximum(np.linalg.norm(weights, axis=0, keepdims=True), 1e-12))
    return scaled, np.full_like(biases, seen_biases.mean())


def direct_regression(seen_domain, unseen_domain, seen_weights, train, val):
    """The baseline NIWT is measured against: unseen weights [D, n_unseen] regressed straight from the (z-scored)
    domain vectors onto the finetuned seen weights, ridge with lambda chosen by the cosine between the predicted and
    finetuned weights of held-out seen classes (`val`); biases stay 0, as NIWT's. Same frozen features, no
    importances. Returns the weights and {lambda, val_cosine}."""
    weights, best, _ = importance_map.ridge_selected(seen_domain, seen_weights.T, train, val, DIRECT_LAMBDAS)
    return importance_map.ridge_predict(unseen_domain, weights).T, best
