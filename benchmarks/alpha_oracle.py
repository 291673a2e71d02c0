"""Where NIWT's ranking of the unseen classes (ZSL T1) is lost on small_cnn: in the alphas mod2alpha predicts, or in
alpha2w's solving for weights that reproduce them. A diagnostic on final runs' saved outputs; it reads unseen test
labels, so it selects nothing and no stage uses it.

small_cnn's alpha layer (conv4) is read only by a global mean and fc5 (ReLU), so the importance of a class with
weights w on an image p is exact and linear in w: alpha_p = W5 diag(g_p) w, with g_p = [fc5 output > 0] (the
penultimate features in features.npz, no forward pass needed). So:
- the formula is checked against the seen alphas alpha_extraction.py wrote (per-image cosine, should be 1);
- an oracle head for the unseen classes (multinomial logistic regression on the penultimate features of half of the
  unseen test images, the even ones of each class) gives the unseen classes' true alphas, as alpha_extraction
  defines them for the seen ones: the class mean over its images (that half) of alpha_p;
- mod2alpha's predicted alpha of each unseen class is compared with these: cosine to its own class's oracle alpha,
  and "alpha retrieval", the share of unseen classes whose predicted alpha is closer to their own oracle alpha than
  to any other unseen class's;
- ZSL T1 on the other half of the unseen test images (the odd ones) of: the oracle head (the features' ceiling);
  alpha2w.py run again on the same final config with the oracle alphas in place of the predicted ones (its balance
  search, stopping and kept-epoch rules unchanged: is the alpha -> weight step lossless?); and the final run's own
  kept head (predicted alphas). Heads score with their biases. And alpha2w on the oracle head's alphas through the
  gates of seen training images instead (alpha2w matches importances on probes drawn from those, where the unseen
  class's own images are not available): what the difference between the two definitions costs.
- why alpha2w loses ranking even from the oracle alphas: the alphas it reaches (cosine to the oracle's), the weights
  it reaches (cosine to the oracle head's, both measured from the mean seen weight alpha2w starts at), and the
  directions of w the alphas barely see (singular values of W5 diag(mean gate) under 1 % of the largest).
Usage:
    python benchmarks/alpha_oracle.py --work /tmp/oracle runs/s1242 [runs/...]   # every small_cnn final run in them
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import checkpoints, fileio, importance_map, metrics, results_table


def cosine_rows(a, b):
    """[len(a), len(b)] cosines between the rows of a and of b."""
    return importance_map.unit_rows(a) @ importance_map.unit_rows(b).T


def alphas_through(fc5, gates, weights):
    """Row i: W5 diag(gates[i]) w_i, the importance at conv4 (summed over positions) of a class with weights w_i (the
    columns of `weights`) on an image with fc5 gates[i], or its mean over images given their mean gates."""
    return (gates * weights.T) @ fc5.T


def class_alphas(fc5, features, labels, weights):
    """Per class c (a column of `weights`): the mean over its images (rows of features with label c) of
    W5 diag(features > 0) w_c. [n_classes, K]."""
    gates = np.stack([(features[labels == c] > 0).mean(0) for c in range(weights.shape[1])])
    return alphas_through(fc5, gates, weights)


def per_image_check(fc5, features, labels, weights, gt_alphas):
    """Mean cosine between alpha_extraction's per-image seen alphas and the formula on the same images."""
    return importance_map.mean_cosine(alphas_through(fc5, features > 0, weights[:, labels]), gt_alphas)


def top1(weights, biases, features, labels):
    return metrics.per_class_accuracy(labels, np.argmax(features @ weights + biases, 1))


def alpha2w_on(results, unseen_alphas, folder):
    """Run alpha2w.py on the final run's config with `unseen_alphas` (rows in unseen order) in place of mod2alpha's
    predictions; outputs under `folder` (emptied first). Returns its unseen_head.npz, read whole: the next call
    removes the file."""
    cfg = results["config"]
    m2a_dir, out = os.path.join(folder, "mod2alpha"), os.path.join(folder, "alpha2w")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(cfg["dom2alpha_ckpt_dir"], m2a_dir)
    m2a = fileio.read_json(os.path.join(m2a_dir, "mod2alpha.json"))
    alphas = np.load(os.path.join(m2a_dir, "class_alphas.npy"))
    alphas[[m2a["class_ids"].index(int(c)) for c in m2a["unseen_ids"]]] = unseen_alphas
    np.save(os.path.join(m2a_dir, "class_alphas.npy"), alphas)
    config_path = os.path.join(folder, "config.json")
    fileio.write_json(config_path, {**fileio.read_json(results["config_path"]), "dom2alpha_ckpt_dir": m2a_dir,
                                    "ckpt_dir": out})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, os.path.join(root, "alpha2w.py"), "--config_json", config_path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"alpha2w.py on oracle alphas ({config_path}) failed:\n{done.stderr[-2000:]}")
    return dict(np.load(os.path.join(out, "unseen_head.npz")))


def diagnose(results, folder):
    cfg = results["config"]
    ckpt = checkpoints.reader(checkpoints.checkpoint_prefix(cfg["ckpt_path"]))
    fc5 = ckpt.get_tensor("small_cnn/fc5/weights")                             # [K conv4 channels, D features]
    features = np.load(os.path.join(cfg["ckpt_dir"], "features.npz"))
    head = np.load(os.path.join(cfg["ckpt_dir"], "unseen_head.npz"))
    m2a = fileio.read_json(os.path.join(cfg["dom2alpha_ckpt_dir"], "mod2alpha.json"))
    predicted = np.load(os.path.join(cfg["dom2alpha_ckpt_dir"], "class_alphas.npy"))
    predicted = predicted[[m2a["class_ids"].index(int(c)) for c in features["unseen_ids"]]]
    alphas = np.load(os.path.join(cfg["alphadir"], "gt_alphas.npy"))
    check = per_image_check(fc5, features["trainval_features"][:200], features["trainval_labels"][:200],
                            head["seen_weights"], alphas[:200])
    x, y = features["unseen_test_features"], features["unseen_test_labels"]
    index_in_class = np.array([np.sum(y[:i] == y[i]) for i in range(len(y))])
    fit, held = index_in_class % 2 == 0, index_in_class % 2 == 1
    oracle = LogisticRegression(C=1.0, max_iter=5000).fit(x[fit], y[fit])
    oracle_alphas = class_alphas(fc5, x[fit], y[fit], oracle.coef_.T)
    own = cosine_rows(predicted, oracle_alphas)
    gated = fc5 * (x[fit] > 0).mean(0)  # alpha_c = gated @ w_c, with the unseen images' mean gates
    singular = np.linalg.svd(gated, compute_uv=False)
    rerun = alpha2w_on(results, oracle_alphas, folder)
    # the same head's alphas through the gates of seen training images (alpha2w's probes are drawn from them)
    probes = features["trainval_features"][~features["trainval_seen_val"].astype(bool)]
    probe_gates = np.tile((probes > 0).mean(0), (len(oracle.coef_), 1))
    on_probes = alpha2w_on(results, alphas_through(fc5, probe_gates, oracle.coef_.T), folder)
    solved = rerun["scored_weights"] - head["seen_weights"].mean(1, keepdims=True)  # from the seen-centred start
    read = m2a["ridge"]["cosine"] if m2a.get("class_alphas_from") == "ridge" else m2a["best"]["val_cosine"]
    return {"formula_check": check, "seen_val_cosine": read,  # of the map whose alphas alpha2w read
            "weak_directions": int(np.sum(singular < 0.01 * singular[0])),
            "alpha_cosine_reached": importance_map.mean_cosine(
                class_alphas(fc5, x[fit], y[fit], rerun["scored_weights"]), oracle_alphas),
            "weight_cosine_reached": importance_map.mean_cosine(solved.T, oracle.coef_),
            "own_cosine": float(np.mean(np.diag(own))),
            "other_cosine": float(np.mean(own[~np.eye(len(own), dtype=bool)])),
            "retrieval": float(np.mean(np.argmax(own, 1) == np.arange(len(own)))),
            "T1_oracle_head": top1(oracle.coef_.T, oracle.intercept_, x[held], y[held]),
            "T1_alpha2w_oracle_alphas": top1(rerun["scored_weights"], rerun["scored_biases"], x[held], y[held]),
            "T1_alpha2w_oracle_on_probes": top1(on_probes["scored_weights"], on_probes["scored_biases"], x[held],
                                                y[held]),
            "T1_alpha2w_predicted": top1(head["scored_weights"], head["scored_biases"], x[held], y[held])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="pipeline output folders (run_pipeline.py --out)")
    parser.add_argument("--work", required=True, help="a scratch folder for the alpha2w runs on oracle alphas")
    args = parser.parse_args()
    by_modality = collections.defaultdict(list)
    for folder in args.folders:
        for path in results_table.find_results([os.path.join(folder, "ckpt", "alpha2w")]):
            results = fileio.read_json(path)
            if results.get("split") != "proposed" or "methods" in results or results["model_name"] != "small_cnn":
                continue
            row = diagnose(results, os.path.join(args.work, "run"))
            by_modality[results["modality"]].append(row)
            print(f"{os.path.basename(folder)} {results['modality']} seed {results['config']['random_seed']}: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    columns = ("formula_check", "weak_directions", "alpha_cosine_reached", "weight_cosine_reached",
               "seen_val_cosine", "own_cosine", "other_cosine", "retrieval", "T1_oracle_head",
               "T1_alpha2w_oracle_alphas", "T1_alpha2w_oracle_on_probes", "T1_alpha2w_predicted")
    print("\n| modality | runs | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for modality, rows in sorted(by_modality.items()):
        print(f"| {modality} | {len(rows)} | " + " | ".join(
            f"{np.mean([r[c] for r in rows]):.3f} ± {np.std([r[c] for r in rows]):.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
