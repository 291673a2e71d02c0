"""The standard GZSL baselines (utils/zsl_baselines.py, baselines.py): their closed forms and gradients, selection
on validation classes only, and the stage on the generated dataset's frozen features."""
import json
import os
import shutil

import numpy as np
import pytest

import baselines
from helpers import run_stage
from utils import zsl_baselines

BY_NAME = {b.name: b for b in zsl_baselines.BASELINES}


def toy(seed=0, n_classes=8, per_class=30, dims=12, attrs=5):
    """Features that are a noisy linear image of their class's attribute vector."""
    rng = np.random.default_rng(seed)
    S = zsl_baselines.unit_rows(rng.normal(size=(n_classes, attrs)))
    labels = np.repeat(np.arange(n_classes), per_class)
    X = S[labels] @ rng.normal(size=(attrs, dims)) + 0.1 * rng.normal(size=(len(labels), dims))
    return X, labels, S


def test_eszsl_closed_form_is_the_minimiser_of_its_objective():
    X, labels, S = toy()
    alpha, gamma = -1, 0
    V = zsl_baselines.eszsl(X, labels, S, alpha, gamma)
    Y = -np.ones((len(labels), len(S)))
    Y[np.arange(len(labels)), labels] = 1
    a, g = 10.0 ** alpha, 10.0 ** gamma
    gradient = 2 * (X.T @ (X @ V @ S.T - Y) @ S + a * V @ S.T @ S + g * X.T @ X @ V + a * g * V)
    assert np.abs(gradient).max() < 1e-8 * np.abs(X.T @ Y @ S).max()


def test_sae_solves_its_sylvester_equation():
    X, labels, S = toy()
    lam = 0.3
    W = zsl_baselines.sae(X, labels, S, lam)
    S_n = S[labels].T
    residual = S_n @ S_n.T @ W + lam * W @ X.T @ X - (1 + lam) * S_n @ X
    assert W.shape == (S.shape[1], X.shape[1]) and np.abs(residual).max() < 1e-8 * np.abs(S_n @ X).max()


def test_sae_with_fewer_images_than_dimensions_is_the_minimum_norm_solution():
    rng = np.random.default_rng(3)
    X, labels, S = rng.normal(size=(6, 9)), np.array([0, 1, 2, 0, 1, 2]), rng.normal(size=(3, 4))
    lam = 0.5
    W = zsl_baselines.sae(X, labels, S, lam)
    S_n = S[labels].T
    A, B, C = S_n @ S_n.T, lam * X.T @ X, (1 + lam) * S_n @ X
    # the equation as one linear system over vec(W) (column-major): (I kron A + B^T kron I) vec(W) = vec(C)
    system = np.kron(np.eye(X.shape[1]), A) + np.kron(B.T, np.eye(S.shape[1]))
    minimum_norm = np.linalg.lstsq(system, C.flatten("F"), rcond=None)[0].reshape(W.shape, order="F")
    assert np.linalg.matrix_rank(system) < system.shape[0]  # singular: many solutions
    assert np.abs(A @ W + W @ B - C).max() < 1e-9 * np.abs(C).max()
    assert np.allclose(W, minimum_norm, atol=1e-9)


@pytest.mark.parametrize("kind", ["devise", "sje", "ale"])
def test_ranking_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(1)
    F, labels = rng.normal(size=(6, 5)), rng.integers(0, 5, 6)
    loss, grad = zsl_baselines.ranking_gradient(kind, F, labels, 0.5)
    for i, j in [(0, 0), (1, 3), (2, labels[2]), (5, 4)]:
        step = np.zeros_like(F)
        step[i, j] = 1e-6
        numeric = (zsl_baselines.ranking_gradient(kind, F + step, labels, 0.5)[0]
                   - zsl_baselines.ranking_gradient(kind, F - step, labels, 0.5)[0]) / 2e-6
        assert grad[i, j] == pytest.approx(numeric, abs=1e-5), (i, j)
    assert loss > 0


@pytest.mark.parametrize("name", [b.name for b in zsl_baselines.BASELINES])
def test_each_baseline_recognises_held_out_classes_of_a_toy_problem_and_not_with_shuffled_attributes(name):
    X, labels, S = toy(n_classes=12, per_class=20)
    baseline, seen, unseen = BY_NAME[name], np.arange(8), np.arange(8, 12)
    train = labels < 8
    hyper, epoch, _ = baselines.select_on_held_out_classes(baseline, X[train], labels[train], S[seen],
                                                           [0, 1, 2, 3, 4, 5], [6, 7], seed=0)
    for attributes, floor, ceiling in ((S, 0.6, 1.0), (S[np.random.default_rng(2).permutation(12)], 0.0, 0.5)):
        fitted = zsl_baselines.fit(baseline, hyper, X[train], labels[train], attributes[seen],
                                   np.random.default_rng(0), epoch)
        params = list(fitted)[-1] if baseline.iterative else fitted
        predicted = np.argmax(zsl_baselines.scores(baseline, params, X[~train], attributes[unseen]), 1)
        top1 = np.mean(predicted == labels[~train] - 8)  # chance 0.25
        assert floor <= top1 <= ceiling, (name, hyper, top1)


# --- the stage on the generated dataset (session fixtures: finetuned small_cnn ... alpha2w) ---

@pytest.fixture(scope="module")
def baselines_run(niwt_run, tmp_path_factory):
    cfg, _, _ = niwt_run
    done = run_stage("baselines.py", cfg, tmp_path_factory.mktemp("baselines"))
    assert done.returncode == 0, done.stderr[-3000:]
    return cfg, json.load(open(os.path.join(cfg["ckpt_dir"], "baselines", "results.json"))), done.stdout


def test_every_baseline_beats_chance_on_niwts_features(baselines_run):
    cfg, results, stdout = baselines_run
    rows = {row["method"]: row for row in results["methods"]}
    assert list(rows) == [b.name for b in zsl_baselines.BASELINES]
    for name, row in rows.items():  # 10 unseen classes: T1 chance 0.1; U chance 0.025 (40 classes)
        assert row["T1"] >= 0.3 and row["AUSUC"] > 0.1 and row["selection"]["value"] > 0.4, (name, row)
        assert row["H"] == pytest.approx(2 * row["S"] * row["U"] / (row["S"] + row["U"]) if row["S"] + row["U"] else 0)
    assert os.path.isfile(os.path.join(cfg["ckpt_dir"], "baselines", "seen_unseen_curves.png"))
    assert "DeViSE" in stdout


def test_scrambled_test_labels_change_no_selected_hyperparameter(baselines_run, tmp_path):
    """Selection reads trainval images only: the test labels can be anything."""
    cfg, results, _ = baselines_run
    scrambled = dict(cfg, ckpt_dir=str(tmp_path / "scrambled"))
    shutil.copytree(cfg["ckpt_dir"], scrambled["ckpt_dir"], ignore=shutil.ignore_patterns("baselines"))
    path = os.path.join(scrambled["ckpt_dir"], "features.npz")
    features = dict(np.load(path))
    rng = np.random.default_rng(0)
    for key in ("seen_test_labels", "unseen_test_labels"):
        features[key] = rng.permutation(features[key])
    np.savez(path, **features)
    done = run_stage("baselines.py", scrambled, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.load(open(os.path.join(scrambled["ckpt_dir"], "baselines", "results.json")))
    for before, after in zip(results["methods"], again["methods"]):
        assert (after["hyperparameters"], after["selection"]) == (before["hyperparameters"], before["selection"])
    assert [r["T1"] for r in again["methods"]] != [r["T1"] for r in results["methods"]]
