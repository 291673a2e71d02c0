"""Scoring an unseen head in stage 4 (alpha2w.py): the test images' frozen outputs (computed once on the cached path),
every GZSL metric of a head on them (utils/metrics.table_metrics), calibrated with the gamma the run's calibration
gives that head, and the frozen features the baselines stage reads."""
import numpy as np

from utils import calibration, metrics, unseen_head


class TestSet:
    """Seen and unseen test images, their labels in the joint (seen first) order, and the frozen-network outputs of
    those and of the held-out seen images (seen_val, which calibration reads): computed once on the cached path, or
    again at each evaluation on the original's path."""

    def __init__(self, prepared, n_seen):
        self.seen, self.unseen = prepared.lists["seen_test"], prepared.lists["unseen_test"]
        self.heldout = prepared.lists["seen_val"]
        self.n_seen = n_seen
        self.outputs = None

    def frozen_outputs(self, model, sess, recompute):
        """[seen test, unseen test, held-out seen] outputs: {features, seen_logits} each."""
        if self.outputs is None or recompute:
            fetches = {"features": model.features, "seen_logits": model.seen_logits}
            self.outputs = [model.net.run(sess, part.paths, fetches, f"features {name}") for name, part in
                            (("seen test", self.seen), ("unseen test", self.unseen), ("seen val", self.heldout))]
        return self.outputs

    def scores(self, outputs, weights, biases):
        """[N, n_seen + n_unseen] scores of the images of each of `outputs` for the unseen head (weights, biases)."""
        return [np.concatenate([o["seen_logits"], o["features"] @ weights + biases], 1) for o in outputs]

    def evaluate(self, seen_scores, unseen_scores, gamma):
        """Every metric of one head (metrics.table_metrics) and its seen-unseen curve."""
        return metrics.table_metrics(seen_scores, self.seen.labels, unseen_scores, self.unseen.labels, self.n_seen,
                                     gamma)


class Scorer:
    """Scores an unseen head on the test images' frozen outputs (every metric of TestSet.evaluate), with the head as
    it is scored: as trained, or norm-matched to the seen head."""

    def __init__(self, cfg, setup, test_set):
        self.norm_matching, self.setup, self.test_set = cfg.unseen_norm_matching, setup, test_set

    def scored(self, weights, biases):
        if self.norm_matching:
            return unseen_head.norm_matched(weights, biases, self.setup.seen_w, self.setup.seen_b)
        return weights, biases

    def __call__(self, outputs, weights, biases, gamma=True, rule=None):
        """The metrics and curve of a head; calibrated with the gamma the run's calibration (or `rule`, a
        calibration record) gives this head, unless gamma=False."""
        seen, unseen, heldout = self.test_set.scores(outputs, *self.scored(weights, biases))
        rule = rule or self.setup.gamma
        chosen = calibration.gamma(rule, heldout, self.setup.n_seen) if gamma and rule else None
        row, curve = self.test_set.evaluate(seen, unseen, chosen)
        if chosen is not None:
            row["gamma_cal"] = chosen
        return row, curve

    def heldout_scores(self, weights, biases):
        return self.test_set.scores(self.test_set.outputs[2:], *self.scored(weights, biases))[0]


def frozen_features(model, sess, setup, test_set):
    """features.npz: the penultimate features of the seen trainval images and of the test images, with their
    labels, which the baselines stage (baselines.py) trains and scores on: the same features as NIWT's heads."""
    lists = setup.prepared.lists
    train = model.net.run(sess, lists["seen_train"].paths, {"features": model.features}, "features train")
    return {"trainval_features": np.concatenate([train["features"], test_set.outputs[2]["features"]]),
            "trainval_labels": np.concatenate([lists["seen_train"].labels, lists["seen_val"].labels]),
            "trainval_seen_val": np.repeat([False, True], [len(lists["seen_train"].labels),
                                                           len(lists["seen_val"].labels)]),
            "seen_test_features": test_set.outputs[0]["features"], "seen_test_labels": test_set.seen.labels,
            "unseen_test_features": test_set.outputs[1]["features"], "unseen_test_labels": test_set.unseen.labels,
            "seen_ids": np.array(setup.prepared.seen_ids), "unseen_ids": np.array(setup.prepared.unseen_ids)}
