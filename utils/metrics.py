"""Accuracy as the GZSL literature reports it: top-1 averaged per class, so that large classes do not dominate.

Scores are [N, n_seen + n_unseen] with the seen classes' columns first; GZSL labels index that joint order.
Calibrated stacking (Chao et al. 2016) subtracts gamma from the seen columns; sweeping gamma traces the seen-unseen
accuracy curve, whose area is AUSUC. At a tie the seen class wins (argmax takes the first column).
"""
import numpy as np


def per_class_accuracy(labels, predictions):
    """Mean over the classes present in `labels` of each class's top-1 accuracy."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = np.unique(labels)
    if classes.size == 0:
        return float("nan")
    return float(np.mean([np.mean(predictions[labels == c] == c) for c in classes]))


def harmonic_mean(seen, unseen):
    return 0.0 if seen + unseen == 0 else float(2 * seen * unseen / (seen + unseen))


def zsl_top1(unseen_scores, unseen_labels, n_seen):
    """ZSL T1: unseen test images classified among the unseen classes only (labels in unseen index)."""
    return per_class_accuracy(unseen_labels, np.argmax(unseen_scores[:, n_seen:], 1))


def gzsl(seen_scores, seen_labels, unseen_scores, unseen_labels, n_seen, gamma=0.0):
    """S, U (argmax over all classes, labels in joint index) and H, with `gamma` subtracted from seen scores."""
    shift = np.where(np.arange(seen_scores.shape[1]) < n_seen, gamma, 0.0)
    s = per_class_accuracy(seen_labels, np.argmax(seen_scores - shift, 1))
    u = per_class_accuracy(unseen_labels, np.argmax(unseen_scores - shift, 1))
    return {"S": s, "U": u, "H": harmonic_mean(s, u)}


def _margin_and_weights(scores, labels, n_seen, seen_side):
    """Per image: best seen minus best unseen score (the gamma at which its prediction flips to unseen), and its
    weight in the per-class mean if the best class of its own side is right (else 0)."""
    margin = scores[:, :n_seen].max(1) - scores[:, n_seen:].max(1)
    own = np.argmax(scores[:, :n_seen], 1) if seen_side else np.argmax(scores[:, n_seen:], 1) + n_seen
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = (own == labels) / (counts[inverse] * len(classes))
    return margin, weights


def seen_unseen_curve(seen_scores, seen_labels, unseen_scores, unseen_labels, n_seen):
    """Every corner of the seen-unseen accuracy curve: (gammas, S, U), gamma ascending, U rising from 0, S falling.

    An image is predicted seen iff gamma <= its margin, so S(gamma) sums the weights of correct seen images with
    margin >= gamma and U(gamma) those of correct unseen images with margin < gamma."""
    seen_margin, seen_weight = _margin_and_weights(seen_scores, seen_labels, n_seen, True)
    unseen_margin, unseen_weight = _margin_and_weights(unseen_scores, unseen_labels, n_seen, False)
    gammas = np.unique(np.concatenate([seen_margin, unseen_margin, [np.inf]]))
    order = np.argsort(seen_margin)
    seen_tail = np.concatenate([np.cumsum(seen_weight[order][::-1])[::-1], [0.0]])
    s = seen_tail[np.searchsorted(seen_margin[order], gammas, side="left")]
    order = np.argsort(unseen_margin)
    unseen_head = np.concatenate([[0.0], np.cumsum(unseen_weight[order])])
    u = unseen_head[np.searchsorted(unseen_margin[order], gammas, side="left")]
    return gammas, s, u


def ausuc(curve):
    """Area under the seen-unseen accuracy curve (S against U)."""
    _, s, u = curve
    return float(np.trapezoid(s, u))


def best_gamma(curve):
    """The gamma with the highest H on this curve, at the middle of the interval where that H holds.

    Only for a validation run (val classes playing the unseen ones); never on test labels."""
    gammas, s, u = curve
    h = np.array([harmonic_mean(a, b) for a, b in zip(s, u)])
    k = int(np.argmax(h))
    if k == 0:
        gamma = gammas[0] - 1.0
    elif np.isinf(gammas[k]):
        gamma = gammas[k - 1] + 1.0
    else:
        gamma = (gammas[k - 1] + gammas[k]) / 2
    return float(gamma), {"S": float(s[k]), "U": float(u[k]), "H": float(h[k])}


def table_metrics(seen_scores, seen_labels, unseen_scores, unseen_labels, n_seen, gamma=None):
    """Every number of the GZSL table for one method's joint scores, and its seen-unseen curve: T1, S / U / H at
    gamma = 0, AUSUC and, given a calibration `gamma`, S / U / H there (keys with `_cal`). Labels: unseen test
    labels in unseen index, seen test labels in seen index."""
    joint_unseen = unseen_labels + n_seen
    curve = seen_unseen_curve(seen_scores, seen_labels, unseen_scores, joint_unseen, n_seen)
    row = {"T1": zsl_top1(unseen_scores, unseen_labels, n_seen),
           **gzsl(seen_scores, seen_labels, unseen_scores, joint_unseen, n_seen), "AUSUC": ausuc(curve)}
    if gamma is not None:
        calibrated = gzsl(seen_scores, seen_labels, unseen_scores, joint_unseen, n_seen, gamma)
        row.update({f"{k}_cal": v for k, v in calibrated.items()})
    return row, curve
