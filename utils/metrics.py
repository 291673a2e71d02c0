"""Accuracy as the GZSL literature reports it: top-1 averaged per class, so that large classes do not dominate."""
import numpy as np


def per_class_accuracy(labels, predictions):
    """Mean over the classes present in `labels` of each class's top-1 accuracy."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = np.unique(labels)
    if classes.size == 0:
        return float("nan")
    return float(np.mean([np.mean(predictions[labels == c] == c) for c in classes]))
