"""The standard (G)ZSL baselines on fixed image features, in numpy: ESZSL, SAE (both directions), ALE, SJE, DeViSE.

Each model maps an image's features x [D] and a class's domain vector s [A] to a compatibility score; a class is
predicted by the highest score. Inputs follow the xlsa17 convention: domain vectors with unit L2 norm per class,
features as given. `fit(model, hyper, X, labels, S, rng)` trains on images X [N, D] with labels indexing the class
rows S [C, A]; `scores(model, params, X, S)` gives [N, C]. Hyperparameters are chosen on validation classes only
(see baselines.py).
"""
import dataclasses
import itertools

import numpy as np


def unit_rows(matrix):
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


# --- closed forms ---

def eszsl(X, labels, S, alpha, gamma):
    """Romera-Paredes & Torr 2015: V = (X^T X + 10^alpha I)^-1 X^T Y S (S^T S + 10^gamma I)^-1 with Y in {-1, 1}
    (X [N, D] rows are images, S [C, A] rows are classes); score x^T V s_c. The minimiser of
    ||X V S^T - Y||^2 + 10^gamma ||X V||^2 + 10^alpha ||V S^T||^2 + 10^(alpha+gamma) ||V||^2."""
    Y = -np.ones((len(labels), len(S)))
    Y[np.arange(len(labels)), labels] = 1.0
    left = np.linalg.solve(X.T @ X + 10.0 ** alpha * np.eye(X.shape[1]), X.T @ Y @ S)
    return np.linalg.solve(S.T @ S + 10.0 ** gamma * np.eye(S.shape[1]), left.T).T  # [D, A]


def sae(X, labels, S, lam):
    """Kodirov et al. 2017: the encoder W [A, D] with S_n S_n^T W + lam W X^T X = (1 + lam) S_n X^T (a Sylvester
    equation; S_n [A, N] the images' class vectors), so that W x ~ s and W^T s ~ x. Both sides are symmetric, so it is
    solved in their eigenbases, where it is diagonal (20x faster than scipy's Schur-based solve_sylvester at D = 1280,
    with a 10x smaller residual); pairs of null directions (fewer images or classes than dimensions) get 0, the
    minimum-norm solution."""
    S_n = S[labels].T
    a, U = np.linalg.eigh(S_n @ S_n.T)
    b, V = np.linalg.eigh(X.T @ X)
    denominator = a[:, None] + lam * b[None, :]
    rotated = (1 + lam) * U.T @ (S_n @ X) @ V
    nonzero = denominator > 1e-9 * denominator.max()
    return U @ np.where(nonzero, rotated / np.where(nonzero, denominator, 1.0), 0.0) @ V.T


# --- ranking losses, trained by minibatch SGD on the bilinear map W [D, A] ---

def ranking_gradient(kind, F, labels, margin):
    """Loss and dL/dF of a batch of scores F [B, C] (F = X W S^T) for the ranking losses.

    devise: sum over c != y of [margin - F_y + F_c]_+ ; sje: the most violating class only, max_c [D(y, c) + F_c] -
    F_y with D = margin off the true class; ale: the hinge terms weighted by the rank of y, l(r) / r with
    l(r) = sum_{i <= r} 1/i (weighted approximate rank, r the number of violating classes)."""
    rows = np.arange(len(labels))
    hinge = margin - F[rows, labels][:, None] + F
    hinge[rows, labels] = 0.0
    violating = hinge > 0
    grad = np.zeros_like(F)
    if kind == "sje":
        worst = np.argmax(hinge, 1)
        loss = np.maximum(hinge[rows, worst], 0.0)
        active = loss > 0
        grad[rows[active], worst[active]] += 1.0
        grad[rows[active], labels[active]] -= 1.0
        return float(loss.mean()), grad / len(labels)
    weight = np.ones(len(labels))
    if kind == "ale":
        rank = violating.sum(1)
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, F.shape[1] + 1))])
        weight = np.where(rank > 0, harmonic[rank] / np.maximum(rank, 1), 0.0)
    grad[violating] = 1.0
    grad *= weight[:, None]
    grad[rows, labels] = -grad.sum(1)
    loss = (np.where(violating, hinge, 0.0).sum(1) * weight).mean()
    return float(loss), grad / len(labels)


def sgd_bilinear(kind, X, labels, S, lr, margin, epochs, rng, batch_size=64):
    """W [D, A] trained by SGD on `kind`'s ranking loss; yields W after each epoch (the caller picks one)."""
    W = rng.normal(scale=1.0 / np.sqrt(X.shape[1]), size=(X.shape[1], S.shape[1]))
    for _ in range(epochs):
        order = rng.permutation(len(labels))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            XW = X[batch] @ W
            _, dF = ranking_gradient(kind, XW @ S.T, labels[batch], margin)
            W -= lr * X[batch].T @ (dF @ S)
        yield W.copy()


# --- the models as (name, hyperparameter grid, fit, score) ---

@dataclasses.dataclass(frozen=True)
class Baseline:
    name: str
    grid: dict          # hyperparameter -> values; ranking models also choose their epoch on validation
    iterative: bool = False


# Grids wide enough that a choice is interior (a choice on an edge is reported by baselines.py). A ranking model's
# margin is fixed at 1: the argmax is invariant to the scale of W, and from a small initialisation SGD with step
# size c * lr and margin c * m traces c times the same W, so only lr / m matters and lr is searched.
RANKING_GRID = {"lr": [0.001, 0.01, 0.1, 1.0, 10.0], "margin": [1.0]}
RANKING_EPOCHS = 150  # the budget; the epoch is chosen on validation with the other hyperparameters
BASELINES = (
    Baseline("ESZSL", {"alpha": [-3, -2, -1, 0, 1, 2, 3], "gamma": [-3, -2, -1, 0, 1, 2, 3]}),
    Baseline("SAE (x -> s)", {"lam": [10.0 ** e for e in range(-4, 6)]}),
    Baseline("SAE (s -> x)", {"lam": [10.0 ** e for e in range(-4, 6)]}),
    Baseline("ALE", RANKING_GRID, iterative=True),
    Baseline("SJE", RANKING_GRID, iterative=True),
    Baseline("DeViSE", RANKING_GRID, iterative=True),
)
RANKING = {"ALE": "ale", "SJE": "sje", "DeViSE": "devise"}


def settings(baseline):
    keys = sorted(baseline.grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(baseline.grid[k] for k in keys))]


def fit(baseline, hyper, X, labels, S, rng, epochs=None):
    """Parameters of `baseline` at `hyper`; iterative models yield one parameter set per epoch. SAE solves on
    L2-normalised image features, as its authors' code and paper do."""
    if baseline.name == "ESZSL":
        return eszsl(X, labels, S, hyper["alpha"], hyper["gamma"])
    if baseline.name.startswith("SAE"):
        return sae(unit_rows(X), labels, S, hyper["lam"])
    return sgd_bilinear(RANKING[baseline.name], X, labels, S, hyper["lr"], hyper["margin"], epochs, rng)


def scores(baseline, params, X, S):
    """Compatibility [N, C] of images X [N, D] with classes S [C, A]."""
    if baseline.name == "SAE (x -> s)":  # the image projected into the domain space, cosine to each class
        return unit_rows(unit_rows(X) @ params.T) @ unit_rows(S).T
    if baseline.name == "SAE (s -> x)":  # each class projected into the feature space, cosine to the image
        return unit_rows(X) @ unit_rows(S @ params).T
    return X @ params @ S.T


def grid_edges(baseline, hyper, epoch=None, epochs=None):
    """The hyperparameters of a choice that sit on an edge of the grid (or the epoch budget's end): a choice there
    may lie beyond the grid."""
    edges = [key for key, values in baseline.grid.items() if len(values) > 1 and hyper[key] in (min(values),
                                                                                                  max(values))]
    return edges + (["epochs"] if baseline.iterative and epoch == epochs else [])
