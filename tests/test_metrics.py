"""GZSL metrics: per-class accuracy, S / U / H, the calibrated-stacking curve, AUSUC and the validation gamma."""
import numpy as np
import pytest

from utils import metrics

N_SEEN = 3


def random_scores(rng, n_seen_images=40, n_unseen_images=30, n_unseen=2):
    seen_labels = rng.integers(0, N_SEEN, n_seen_images)
    unseen_labels = rng.integers(N_SEEN, N_SEEN + n_unseen, n_unseen_images)
    seen_scores = rng.normal(size=(n_seen_images, N_SEEN + n_unseen))
    unseen_scores = rng.normal(size=(n_unseen_images, N_SEEN + n_unseen))
    seen_scores[np.arange(n_seen_images), seen_labels] += 1.0  # better than chance
    unseen_scores[np.arange(n_unseen_images), unseen_labels] += 1.0
    return seen_scores, seen_labels, unseen_scores, unseen_labels


def test_per_class_accuracy_weights_classes_equally_and_h_is_the_harmonic_mean():
    labels = np.array([0, 0, 0, 0, 1])
    assert metrics.per_class_accuracy(labels, np.array([0, 0, 0, 0, 0])) == pytest.approx(0.5)
    assert metrics.harmonic_mean(0.5, 0.25) == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert metrics.harmonic_mean(0.0, 0.0) == 0.0


def test_zsl_top1_ignores_seen_columns_and_gzsl_does_not():
    unseen_scores = np.array([[9.0, 0.0, 1.0, 0.0], [9.0, 0.0, 0.0, 1.0]])  # a seen class wins over all classes
    seen_scores = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    assert metrics.zsl_top1(unseen_scores, np.array([0, 1]), 2) == 1.0
    out = metrics.gzsl(seen_scores, np.array([0, 1]), unseen_scores, np.array([2, 3]), 2)
    assert (out["S"], out["U"], out["H"]) == (1.0, 0.0, 0.0)
    out = metrics.gzsl(seen_scores, np.array([0, 1]), unseen_scores, np.array([2, 3]), 2, gamma=10.0)
    assert (out["S"], out["U"]) == (0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seen_unseen_curve_matches_a_brute_force_sweep_over_gamma(seed):
    scores = random_scores(np.random.default_rng(seed))
    gammas, s, u = metrics.seen_unseen_curve(*scores, N_SEEN)
    assert np.all(np.diff(u) >= 0) and np.all(np.diff(s) <= 0)
    assert u[0] == 0.0 and s[-1] == 0.0
    inside = np.concatenate([[gammas[0] - 1], (gammas[:-2] + gammas[1:-1]) / 2, [gammas[-2] + 1]])
    for k, gamma in enumerate(inside):  # corner k holds for gamma in (gammas[k-1], gammas[k]]
        brute = metrics.gzsl(*scores, N_SEEN, gamma=gamma)
        assert (s[k], u[k]) == pytest.approx((brute["S"], brute["U"]))
    zero = metrics.gzsl(*scores, N_SEEN, gamma=0.0)
    k = np.searchsorted(gammas, 0.0)  # gamma 0 lies in (gammas[k-1], gammas[k]]
    assert (s[k], u[k]) == pytest.approx((zero["S"], zero["U"]))


def test_ausuc_is_one_for_separable_perfect_scores_and_best_gamma_picks_the_top_h():
    seen_scores = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])  # seen classes 0, 1; unseen class 2
    unseen_scores = np.array([[1.0, 0.0, 3.0]])
    curve = metrics.seen_unseen_curve(seen_scores, np.array([0, 1]), unseen_scores, np.array([2]), 2)
    assert metrics.ausuc(curve) == pytest.approx(1.0)
    gamma, at = metrics.best_gamma(curve)
    assert -2.0 < gamma <= 5.0 and at == {"S": 1.0, "U": 1.0, "H": 1.0}
    assert metrics.gzsl(seen_scores, np.array([0, 1]), unseen_scores, np.array([2]), 2, gamma)["H"] == 1.0


def test_best_gamma_reaches_the_highest_h_of_a_dense_sweep():
    scores = random_scores(np.random.default_rng(4), 200, 150)
    gamma, at = metrics.best_gamma(metrics.seen_unseen_curve(*scores, N_SEEN))
    dense = max(metrics.gzsl(*scores, N_SEEN, gamma=g)["H"] for g in np.linspace(-6, 6, 2001))
    assert at["H"] == pytest.approx(metrics.gzsl(*scores, N_SEEN, gamma=gamma)["H"])
    assert at["H"] >= dense - 1e-12
