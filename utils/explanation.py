"""NIWT's explanations (the paper's section 5, which the original release did not ship): an inverse map from neuron
importances back to the domain (alpha -> attributes or words), learnt on seen classes, that names neurons and turns
an image's importance vector into words; how often those words are true of the class; and a static HTML page.

The map is ridge regression from unit importance vectors to z-scored class domain vectors (each dimension
standardised over the seen classes, so "high" means above the average class and attributes of different scales
compare), with the ridge lambda chosen on mod2alpha's validation classes and the map refit on every seen class.
Neuron k's name is the dimensions with the largest coefficients in row k: what the map predicts more of when
importance moves towards neuron k. A dimension is "true" of a class when its z-score is positive (for binary
attributes: the class has it).
"""
import html
import os

import numpy as np
from scipy.stats import rankdata

from utils.importance_map import ridge_predict, ridge_selected, unit_rows


class InverseMap:
    """alpha -> z-scored domain vector, fitted on seen images' gt alphas (`alphas` [N, K], `rows` their class rows
    in `targets` [n_classes, D]); lambda by mean cosine on the images of `val_rows` classes."""

    def __init__(self, alphas, rows, targets, train_rows, val_rows):
        self.weights, best, self.grid = ridge_selected(unit_rows(alphas), targets[rows], np.isin(rows, train_rows),
                                                       np.isin(rows, val_rows))
        self.lam, self.val_cosine = best["lambda"], best["val_cosine"]

    def __call__(self, alphas):
        return ridge_predict(unit_rows(alphas), self.weights)

    def neuron_coefficients(self):
        """[K, D]: the map's response to a one-hot importance on each neuron (bias excluded: it is the same for all)."""
        return self.weights[:-1]


def top(values, n):
    """Indices of the n largest values, largest first."""
    return [int(i) for i in np.argsort(-values, kind="stable")[:n]]


def neuron_names(coefficients, names, n):
    """Per neuron, its n dimensions with the largest positive coefficients: [(name, coefficient), ...]."""
    return [[(names[j], float(row[j])) for j in top(row, n) if row[j] > 0] for row in coefficients]


def precision_at_1(predicted, true_sets):
    """Fraction of rows whose highest predicted dimension is true of the row's class, and the chance level (the
    mean fraction of true dimensions: a dimension drawn at random)."""
    hits = [int(np.argmax(p)) in s for p, s in zip(predicted, true_sets)]
    chance = [len(s) / predicted.shape[1] for s in true_sets]
    return float(np.mean(hits)), float(np.mean(chance))


def neuron_name_precision(class_importances, coefficients, true_sets, n_neurons):
    """For each class: its n_neurons most important neurons (of its mean unit importance); the fraction whose
    first name is true of the class, and the chance level."""
    first_names = np.argmax(coefficients, 1)
    hits, chance = [], []
    for importance, truth in zip(class_importances, true_sets):
        hits += [int(first_names[k]) in truth for k in top(importance, n_neurons)]
        chance.append(len(truth) / coefficients.shape[1])
    return float(np.mean(hits)), float(np.mean(chance))


def neuron_name_auc(class_importances, coefficients, true_sets):
    """For each class, the probability that a neuron whose first name is true of the class is more important to it
    than one whose first name is not (ROC AUC over all neurons; chance 0.5), averaged over classes. Unlike the
    top-k precision it uses every neuron, so a handful of classes still gives a stable figure."""
    first_names = np.argmax(coefficients, 1)
    aucs = []
    for importance, truth in zip(class_importances, true_sets):
        named_true = np.isin(first_names, list(truth))
        n_true, n_false = int(named_true.sum()), int((~named_true).sum())
        if n_true and n_false:
            ranks = rankdata(importance)  # ties share their mean rank
            aucs.append((ranks[named_true].sum() - n_true * (n_true + 1) / 2) / (n_true * n_false))
    return float(np.mean(aucs)) if aucs else float("nan")


def html_page(title, summary_lines, cards, neuron_table):
    """A static page: the summary, one card per explained image (its Grad-CAM PNG and the textual explanation),
    and the table of neuron names."""
    def esc(text):
        return html.escape(str(text))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
             "body{font-family:sans-serif;margin:2em;max-width:1100px}.card{border:1px solid #ccc;padding:1em;"
             "margin:1em 0;overflow-wrap:anywhere}.card img{max-width:100%;height:auto}.ok{color:#080}"
             ".bad{color:#b00}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;"
             "font-size:90%}</style></head><body>", f"<h1>{esc(title)}</h1>"]
    parts += [f"<p>{esc(line)}</p>" for line in summary_lines]
    for card in cards:
        verdict = "ok" if card["correct"] else "bad"
        parts.append(f"<div class='card'><img src='{esc(card['image'])}' alt='Grad-CAM'><p>true: <b>{esc(card['true'])}"
                     f"</b> | predicted: <b class='{verdict}'>{esc(card['predicted'])}</b> ({esc(card['kind'])})</p>"
                     f"<p>{esc(card['text'])}</p></div>")
    parts.append("<h2>Neuron names</h2><table><tr><th>neuron</th><th>name (top dimensions of the inverse map)"
                 "</th></tr>")
    parts += [f"<tr><td>{k}</td><td>{esc(', '.join(n for n, _ in names) or '-')}</td></tr>"
              for k, names in enumerate(neuron_table)]
    parts.append("</table></body></html>\n")
    return "".join(parts)


def relative(path, folder):
    return os.path.relpath(path, folder).replace(os.sep, "/")
