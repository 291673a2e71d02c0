"""The standard GZSL baselines on NIWT's own features (`python baselines.py --config_json <experiment config>`).

After alpha2w.py: ESZSL, SAE (both directions), ALE, SJE and DeViSE (utils/zsl_baselines.py) are trained on the
frozen penultimate features of the seen trainval images that NIWT's heads read (alpha2w's features.npz) with the
experiment's domain vectors (unit L2 norm per class), and scored exactly as NIWT is: ZSL T1, S / U / H at gamma = 0,
AUSUC, and calibrated stacking with a gamma their validation run selected. Hyperparameters (and a ranking model's
epoch) are chosen on validation classes only: trained on mod2alpha's train classes' trainval images, the per-class
top-1 of its validation classes' images among those classes; the chosen setting is refit on every seen class.
Written to <ckpt_dir>/baselines/ (results.json, and one picture of every method's seen-unseen curve with NIWT's).
"""
import os
import time

import numpy as np

from utils import calibration, config, domain, experiment, io, metrics, plots, splits, zsl_baselines
from utils.cli import UserError, config_args, main_guard

RANKING_EPOCHS = 30


def load_features(cfg, prepared, source):
    path = os.path.join(cfg.ckpt_dir, "features.npz")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; run alpha2w.py with {source} first (it writes the frozen features)")
    features = dict(np.load(path))
    if features["seen_ids"].tolist() != prepared.seen_ids or features["unseen_ids"].tolist() != prepared.unseen_ids:
        raise UserError(f"{path}: its classes are not those of {cfg.prepared_dir}; rerun alpha2w.py")
    return features


def class_matrix(cfg, prepared):
    """[n_seen + n_unseen, A] domain vectors at unit L2 norm (the xlsa17 convention), seen classes first."""
    vectors = domain.class_vectors(cfg, prepared.class_ids, prepared.class_names)
    return zsl_baselines.unit_rows(vectors[[prepared.class_ids.index(c)
                                            for c in prepared.seen_ids + prepared.unseen_ids]])


def class_split(cfg, prepared, source):
    """mod2alpha's seeded train / validation classes among the seen ones (seen indices)."""
    path = os.path.join(cfg.dom2alpha_ckpt_dir, "mod2alpha.json")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; run mod2alpha.py with {source} first")
    meta = io.read_json(path)
    index = {c: i for i, c in enumerate(prepared.seen_ids)}
    return [index[c] for c in meta["train_class_ids"]], [index[c] for c in meta["val_class_ids"]]


def select(baseline, X, labels, S, train_classes, val_classes, seed):
    """The setting (and, for a ranking model, the epoch) with the best per-class top-1 of the validation classes'
    images among the validation classes, trained on the training classes' images. Uses trainval images only."""
    train = np.isin(labels, train_classes)
    relabel = {c: i for i, c in enumerate(train_classes)}
    train_labels = np.array([relabel[c] for c in labels[train]])
    val = ~train
    val_labels = np.searchsorted(val_classes, labels[val])  # val_classes sorted
    best = None
    for hyper in zsl_baselines.settings(baseline):
        rng = np.random.default_rng(seed)
        fitted = zsl_baselines.fit(baseline, hyper, X[train], train_labels, S[train_classes], rng, RANKING_EPOCHS)
        for epoch, params in enumerate(fitted if baseline.iterative else [fitted], 1):
            predicted = np.argmax(zsl_baselines.scores(baseline, params, X[val], S[val_classes]), 1)
            accuracy = metrics.per_class_accuracy(val_labels, predicted)
            if best is None or accuracy > best[0]:
                best = (accuracy, hyper, epoch if baseline.iterative else None)
    return best


def evaluate(scores_seen, scores_unseen, features, n_seen, gamma):
    """The metrics of NIWT's table (metrics.table_metrics) for joint scores of the seen and unseen test images."""
    return metrics.table_metrics(scores_seen, features["seen_test_labels"], scores_unseen,
                                 features["unseen_test_labels"], n_seen, gamma)


def validation_gammas(cfg, prepared):
    """method -> its calibration record (utils/calibration.py: the rule, and the gamma and held-out seen share its
    validation run selected), for a final run whose `calibration_gamma` names that run; else {} (no calibration, or
    a validation run, which selects its own). The held-out seen images of a baseline are the seen_val images of
    trainval, which it trains on (in both runs alike)."""
    if prepared.info["split"] != "proposed" or not isinstance(cfg.calibration_gamma, str):
        return {}
    path = os.path.join(os.path.dirname(cfg.calibration_gamma), "baselines", "results.json")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found ('calibration_gamma' names its validation run); run baselines.py on the "
                        "validation run's config first")
    return {row["method"]: {"rule": cfg.calibration_rule, **calibration.validation_selection(row, path)}
            for row in io.read_json(path)["methods"]}


def run_baseline(baseline, features, S, split, cfg, gammas, validation_run):
    """Select on validation classes, refit on all seen classes, score the test images; a validation run also
    selects its calibration gamma (best H on its own curve), which the final run applies."""
    start = time.time()
    X, labels, n_seen = features["trainval_features"], features["trainval_labels"], len(features["seen_ids"])
    val_accuracy, hyper, epoch = select(baseline, X, labels, S[:n_seen], *split, cfg.random_seed)
    fitted = zsl_baselines.fit(baseline, hyper, X, labels, S[:n_seen], np.random.default_rng(cfg.random_seed), epoch)
    params = fitted[-1] if baseline.iterative else fitted
    joint = [zsl_baselines.scores(baseline, params, features[f"{kind}_test_features"], S)
             for kind in ("seen", "unseen")]
    heldout = zsl_baselines.scores(baseline, params, X[features["trainval_seen_val"]], S)
    rule = gammas.get(baseline.name)
    gamma = calibration.gamma(rule, heldout, n_seen) if rule else None
    row, curve = evaluate(*joint, features, n_seen, gamma)
    record = {"method": baseline.name, "hyperparameters": {**hyper, **({"epochs": epoch} if epoch else {})},
              "val_class_accuracy": val_accuracy, **row, "seconds": round(time.time() - start, 1)}
    if gamma is not None:
        record["calibration_gamma"] = gamma
    if validation_run:
        selected, record["at_selected_gamma"] = metrics.best_gamma(curve)
        record.update(calibration.selection(selected, heldout, n_seen))
    return record, curve


def reference_curves(cfg, features):
    """NIWT's kept head (alpha2w's unseen_head.npz) and the ridge baseline's, scored on the same features."""
    head = np.load(os.path.join(cfg.ckpt_dir, "unseen_head.npz"))
    n_seen = len(features["seen_ids"])
    curves = {}
    for name, weights, biases in (("NIWT", head["scored_weights"], head["scored_biases"]),
                                  ("domain -> weights (ridge)", head["direct_weights"], 0.0)):
        joint = [np.concatenate([f @ head["seen_weights"] + head["seen_biases"], f @ weights + biases], 1)
                 for f in (features["seen_test_features"], features["unseen_test_features"])]
        curves[name] = evaluate(*joint, features, n_seen, None)[1]
    return curves


@main_guard
def main(argv=None):
    args = config_args(__doc__.splitlines()[0], argv, "experiment config (arg_configs/<net>_config_<DATASET>.json)")
    start = time.time()
    cfg = experiment.load(args.config, "alpha2w")
    if args.print_config:
        return config.print_resolved(cfg)
    prepared = splits.load_prepared(cfg.prepared_dir)
    features = load_features(cfg, prepared, args.config)
    S = class_matrix(cfg, prepared)
    split, gammas = class_split(cfg, prepared, args.config), validation_gammas(cfg, prepared)
    validation_run = prepared.info["split"] != "proposed"
    print(f"baselines {cfg.dataset} {cfg.model_name} {cfg.modality}: {features['trainval_features'].shape[1]}-d "
          f"features of {len(features['trainval_labels'])} trainval images, {S.shape[1]}-d domain vectors; "
          f"selected on {len(split[1])} validation classes")
    records, curves = [], reference_curves(cfg, features)
    for baseline in zsl_baselines.BASELINES:
        record, curves[baseline.name] = run_baseline(baseline, features, S, split, cfg, gammas, validation_run)
        records.append(record)
        print(f"{baseline.name:14s} {record['hyperparameters']} val-class top-1 {record['val_class_accuracy']:.3f} | "
              f"T1 {record['T1']:.3f} | U {record['U']:.3f} S {record['S']:.3f} H {record['H']:.3f}"
              + (f" | calibrated H {record['H_cal']:.3f}" if "H_cal" in record else "")
              + f" | AUSUC {record['AUSUC']:.3f} | {record['seconds']:.1f}s", flush=True)
    with io.atomic_dir(os.path.join(cfg.ckpt_dir, "baselines")) as out:
        io.write_json(os.path.join(out, "results.json"), {
            "dataset": cfg.dataset, "model_name": cfg.model_name, "modality": cfg.modality,
            "split": prepared.info["split"], "methods": records, "selected_on": "mod2alpha's validation classes "
            "(trainval images only), then refit on all seen classes", "config": config.resolved_dict(cfg),
            "seconds": round(time.time() - start, 1)})
        plots.plot_curves_together(os.path.join(out, "seen_unseen_curves.png"), curves,
                                   f"{cfg.dataset} {cfg.model_name} {cfg.modality}: seen-unseen accuracy curves")
    print(f"wrote {os.path.join(cfg.ckpt_dir, 'baselines')}: results.json, seen_unseen_curves.png")


if __name__ == "__main__":
    main()
