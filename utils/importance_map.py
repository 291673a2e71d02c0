"""Maps from a class's domain vector to neuron importances (mod2alpha), and how well predicted alphas agree.

Class-level cosine objective: for unit vectors a_i of class c's images and a prediction p_c,
    mean_i (1 - cos(p_c, a_i)) = 1 - <p_c / |p_c|, mean_i a_i>,
so the mean cosine distance over all images equals sum_c (n_c / N) (1 - <p_c / |p_c|, m_c>) with m_c the mean unit
alpha of class c: one term per class, exactly.
"""
import dataclasses
import os

import numpy as np
from scipy.stats import rankdata

from utils import config, fileio
from utils.cli import UserError
from utils.tf_compat import slim, tf, tf1


def unit_rows(matrix):
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


@dataclasses.dataclass
class AlphaTargets:
    """The gt alphas of some classes' images, with what the metrics and the class-level loss need."""
    class_index: np.ndarray   # [N] row of each image's class in the class table
    alphas: np.ndarray        # [N, K]
    classes: np.ndarray       # the class-table rows present, ascending
    counts: np.ndarray        # images per class in `classes`
    mean_unit: np.ndarray     # [len(classes), K] mean of the unit alphas of each class
    rank_scores: np.ndarray   # [N, K] standardised ranks of each alpha (for Spearman's rho)

    @classmethod
    def build(cls, class_index, alphas):
        classes, inverse, counts = np.unique(class_index, return_inverse=True, return_counts=True)
        mean_unit = np.zeros((len(classes), alphas.shape[1]))
        np.add.at(mean_unit, inverse, unit_rows(alphas))
        return cls(class_index, alphas, classes, counts, mean_unit / counts[:, None], _rank_scores(alphas))

    @property
    def weights(self):
        return self.counts / self.counts.sum()

    @property
    def oracle_cosine(self):
        """The highest mean cosine any class-level prediction can reach: each class's own mean alpha direction."""
        return float(np.sum(self.weights * np.linalg.norm(self.mean_unit, axis=1)))


def _rank_scores(matrix):
    ranks = rankdata(matrix, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    return ranks / np.maximum(np.linalg.norm(ranks, axis=1, keepdims=True), 1e-12)


def agreement(class_predictions, targets, loss_type="cd", cdl1_reg=1.0):
    """Per-image agreement of predicted class alphas (rows of the class table) with `targets`:
    the alpha loss, mean cosine similarity and mean Spearman rank correlation."""
    predictions = class_predictions[targets.classes]
    cosine = float(np.sum(targets.weights * np.sum(unit_rows(predictions) * targets.mean_unit, axis=1)))
    row = np.searchsorted(targets.classes, targets.class_index)
    spearman = float(np.mean(np.sum(_rank_scores(predictions)[row] * targets.rank_scores, axis=1)))
    l1 = float(np.mean(np.abs(predictions[row] - targets.alphas))) if loss_type != "cd" else 0.0
    loss = {"cd": 1.0 - cosine, "l1": l1, "cdandl1": l1 + cdl1_reg * (1.0 - cosine)}[loss_type]
    return {"loss": loss, "cosine": cosine, "spearman": spearman}


def network(cfg, n_outputs):
    """fn(domain vectors) -> predicted alphas, sharing variables across calls (scope `dom2alpha`).

    linear: W, b ~ N(0, 1) as in the original; multilayer / 2layer: ReLU fully connected layers (Glorot init)."""
    def build(inputs):
        if cfg.dom2alpha_model == "linear":
            init = tf1.random_normal_initializer(0.0, 1.0)
            weights = tf1.get_variable("weights", [inputs.shape[1], n_outputs], tf.float32, init)
            biases = tf1.get_variable("biases", [n_outputs], tf.float32, init)
            return tf.matmul(inputs, weights) + biases
        hidden = (cfg.n_hidden_1, cfg.n_hidden_2) if cfg.dom2alpha_model == "multilayer" else (cfg.n_hidden,)
        net = inputs
        for i, width in enumerate(hidden, 1):
            net = slim.fully_connected(net, width, activation_fn=tf.nn.relu, scope=f"hidden_{i}")
        return slim.fully_connected(net, n_outputs, activation_fn=None, scope="out")

    return tf1.make_template("dom2alpha", build)


def class_level_cd_loss(predictions, targets):
    """The mean per-image cosine distance from class predictions [C, K] (rows = targets.classes), exactly."""
    unit = tf.nn.l2_normalize(predictions, 1)
    return 1.0 - tf.reduce_sum(targets.weights.astype(np.float32) *
                               tf.reduce_sum(unit * targets.mean_unit.astype(np.float32), 1))


def per_image_loss(predictions, alphas, cfg):
    """The original's minibatch loss: cosine distance, L1 or both, plus lambda * |l2(pred) - l2(alphas)|."""
    cosine_distance = tf.reduce_mean(1.0 - tf.reduce_sum(tf.nn.l2_normalize(predictions, 1) *
                                                         tf.nn.l2_normalize(alphas, 1), 1))
    l1 = tf.reduce_mean(tf.abs(alphas - predictions))
    loss = {"cd": lambda: cosine_distance, "l1": lambda: l1,
            "cdandl1": lambda: l1 + cfg.cdl1_reg * cosine_distance}[cfg.alpha_loss_type]()
    if cfg.dom2alpha_lambda_reg:
        loss += cfg.dom2alpha_lambda_reg * tf.abs(tf.nn.l2_loss(predictions) - tf.nn.l2_loss(alphas))
    return loss


def ridge_solve(x, y, lam, weights=None):
    """Closed-form W [D + 1, K] minimising sum_i w_i |[x_i, 1] W - y_i|^2 + lam |W_x|^2 (bias unpenalised; w_i = 1
    without `weights`)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    weighted = xb if weights is None else xb * weights[:, None]
    penalty = lam * np.eye(xb.shape[1])
    penalty[-1, -1] = 0.0
    return np.linalg.solve(xb.T @ weighted + penalty, weighted.T @ y)


def ridge_fit(domain, targets, lam):
    """Least squares from the classes' domain vectors to their unit alphas, reduced to one term per class (weighted by
    its image count) as the cosine objective is: ridge_solve on [x_c] -> m_c."""
    return ridge_solve(domain[targets.classes], targets.mean_unit, lam, targets.weights)


def ridge_predict(domain, weights):
    return np.hstack([domain, np.ones((len(domain), 1))]) @ weights


RIDGE_LAMBDAS = 10.0 ** np.arange(-3, 4)


def mean_cosine(a, b):
    return float(np.mean(np.sum(unit_rows(a) * unit_rows(b), 1)))


def standardised(vectors, reference_rows):
    """z-scores of every class's domain vector, with mean and std over `reference_rows` (the seen classes), so that
    dimensions of different scales weigh alike in a ridge map."""
    mean = vectors[reference_rows].mean(0)
    std = vectors[reference_rows].std(0)
    return (vectors - mean) / np.where(std > 1e-12, std, 1.0)


def ridge_selected(x, y, train, val, lambdas=RIDGE_LAMBDAS):
    """Ridge x -> y with lambda chosen (on `lambdas`) by the mean cosine of the `val` rows' predictions when fitted
    on the `train` rows, then refitted on every row: (weights, {lambda, val_cosine}, the whole grid)."""
    grid = [{"lambda": float(lam),
             "val_cosine": mean_cosine(ridge_predict(x[val], ridge_solve(x[train], y[train], lam)), y[val])}
            for lam in lambdas]
    best = max(grid, key=lambda g: g["val_cosine"])
    return ridge_solve(x, y, best["lambda"]), best, grid


ALPHA_FILES = ("gt_alphas.npy", "class_ids.npy", "alphas.json")


def load_alphas(cfg, prepared, source):
    """gt alphas [N, K] and each image's row in the prepared class table, checked against the config and classes."""
    missing = [f for f in ALPHA_FILES if not os.path.isfile(os.path.join(cfg.alphadir, f))]
    if missing:
        raise UserError(f"{cfg.alphadir}: no {missing[0]}; point 'alphadir' at an alpha_extraction.py save_path")
    alphas_path = os.path.join(cfg.alphadir, "gt_alphas.npy")
    alphas = fileio.require_finite(fileio.read_npy(alphas_path, "alpha_extraction.py").astype(np.float64), alphas_path,
                                   "redo alpha_extraction.py (a diverged network gives non-finite gradients)")
    class_ids = fileio.read_npy(os.path.join(cfg.alphadir, "class_ids.npy"), "alpha_extraction.py")
    config.settle(cfg, "n_alphas", alphas.shape[1], source, f"the alphas in {cfg.alphadir}")
    present = set(class_ids.tolist())
    foreign = sorted(present - set(prepared.seen_ids))
    if foreign:
        raise UserError(f"{cfg.alphadir}: class id {foreign[0]} is not a seen class of {cfg.prepared_dir}")
    empty = [c for c in prepared.seen_ids if c not in present]
    if empty:
        raise UserError(f"{cfg.alphadir}: seen class {empty[0]} ({prepared.name_of(empty[0])}) has no images; "
                        "extract alphas for the seen train + val lists")
    row_of = {c: i for i, c in enumerate(prepared.class_ids)}
    return alphas, np.array([row_of[c] for c in class_ids.tolist()])
