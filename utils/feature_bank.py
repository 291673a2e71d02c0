"""The feature bank of finetuning's logits-only phase: the frozen trunk's penultimate features of every seen image,
computed once, so that the epochs train the logits (a dense map of those features) without running the trunk."""
import time

import numpy as np


class FeatureBank:
    """The penultimate features (and labels) of every image of the seen lists, computed once by the frozen trunk:
    train as `fc_feature_views` views (1: the eval view; K > 1: K augmented passes, used in turn by the epochs),
    val and test as their eval views."""

    def __init__(self, views):
        self.views = views  # split -> [(features [N, D], labels [N])]

    @classmethod
    def compute(cls, run, sess):
        start, k = time.time(), run.cfg.fc_feature_views
        passes = {"train": ["train"] * k if k > 1 else ["train_eval"], "val": ["val"], "test": ["test"]}
        views = {}
        for split, sources in passes.items():
            views[split] = []
            for view, source in enumerate(sources):  # augmented views: the passes of epochs 0..K-1, each its own
                parts = run.image_pass(sess, source, split, ("features", "labels"), f"features {source}", view)
                views[split].append((np.concatenate([p["features"] for p in parts]),
                                     np.concatenate([p["labels"] for p in parts])))
        print(f"cached penultimate features of {sum(len(v[0][1]) for v in views.values())} images "
              f"({k} training view{'s' if k > 1 else ''}) in {time.time() - start:.1f}s", flush=True)
        return cls(views)

    def view(self, split, epoch):
        return self.views[split][epoch % len(self.views[split])]
