"""The standard GZSL baselines on NIWT's own features (`python baselines.py --config_json <experiment config>`).

After alpha2w.py: ESZSL, SAE (both directions), ALE, SJE and DeViSE (utils/zsl_baselines.py) are trained on the
frozen penultimate features of the seen trainval images that NIWT's heads read (alpha2w's features.npz) with the
experiment's domain vectors (unit L2 norm per class), and scored exactly as NIWT is: ZSL T1, S / U / H at gamma = 0,
AUSUC, and calibrated stacking at the held-out seen share their validation runs selected (pooled over the seeds).
Hyperparameters (and a ranking model's epoch) are chosen as NIWT's are: a validation run fits every setting on its
seen classes and scores it by H at gamma 0 on its val classes (seen classes held out of the finetuning, playing the
unseen ones); the final run fits the setting of the best H, pooled over its validation runs (`hyperparameters_from`),
on every seen class. Ties go to the first setting in grid order; a choice on an edge of its grid (or at the epoch
budget's end) is printed and recorded (`grid_edges`). A final run without a validation run selects on mod2alpha's
held-out seen classes instead.
Written to <ckpt_dir>/baselines/ (results.json, and one picture of every method's seen-unseen curve with NIWT's).
"""
import collections
import os
import time

import numpy as np

from utils import calibration, config, domain_vectors, experiment, fileio, metrics, plots, splits, tuning, zsl_baselines
from utils.tuning import CRITERION
from utils.zsl_baselines import RANKING_EPOCHS
from utils.cli import UserError, config_args, main_guard

def load_features(cfg, prepared, source):
    path = os.path.join(cfg.ckpt_dir, "features.npz")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; run alpha2w.py with {source} first (it writes the frozen features)")
    features = fileio.read_npz(path, "alpha2w.py (it writes the frozen features)")
    if features["seen_ids"].tolist() != prepared.seen_ids or features["unseen_ids"].tolist() != prepared.unseen_ids:
        raise UserError(f"{path}: its classes are not those of {cfg.prepared_dir}; rerun alpha2w.py")
    return features


def class_matrix(cfg, prepared):
    """[n_seen + n_unseen, A] domain vectors at unit L2 norm (the xlsa17 convention), seen classes first."""
    vectors = domain_vectors.class_vectors(cfg, prepared.class_ids, prepared.class_names)
    return zsl_baselines.unit_rows(vectors[[prepared.class_ids.index(c)
                                            for c in prepared.seen_ids + prepared.unseen_ids]])


def class_split(cfg, prepared, source):
    """mod2alpha's seeded train / validation classes among the seen ones (seen indices)."""
    path = os.path.join(cfg.dom2alpha_ckpt_dir, "mod2alpha.json")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; run mod2alpha.py with {source} first")
    meta = fileio.read_json(path, "mod2alpha.py", ("train_class_ids", "val_class_ids"))
    index = {c: i for i, c in enumerate(prepared.seen_ids)}
    return [index[c] for c in meta["train_class_ids"]], [index[c] for c in meta["val_class_ids"]]


def candidates(baseline, X, labels, S, seed):
    """(setting, epoch, parameters) for every setting of the baseline's grid and, for a ranking model, every epoch
    of its budget (epoch None for a closed form); each setting trained from the same seed."""
    for hyper in zsl_baselines.settings(baseline):
        fitted = zsl_baselines.fit(baseline, hyper, X, labels, S, np.random.default_rng(seed), RANKING_EPOCHS)
        if baseline.iterative:
            yield from ((hyper, epoch, params) for epoch, params in enumerate(fitted, 1))
        else:
            yield hyper, None, fitted


def select_on_held_out_classes(baseline, X, labels, S, train_classes, val_classes, seed):
    """Without a validation run: the setting (and epoch) with the best per-class top-1 of the validation classes'
    images among the validation classes, trained on the training classes' images (trainval images only; the first
    of equals in grid order). Returns (setting, epoch, {criterion, value})."""
    train = np.isin(labels, train_classes)
    relabel = {c: i for i, c in enumerate(train_classes)}
    train_labels = np.array([relabel[c] for c in labels[train]])
    val = ~train
    val_labels = np.searchsorted(val_classes, labels[val])  # val_classes sorted
    best = None
    for hyper, epoch, params in candidates(baseline, X[train], train_labels, S[train_classes], seed):
        predicted = np.argmax(zsl_baselines.scores(baseline, params, X[val], S[val_classes]), 1)
        accuracy = metrics.per_class_accuracy(val_labels, predicted)
        if best is None or accuracy > best[2]:
            best = (hyper, epoch, accuracy)
    return best[0], best[1], {"criterion": f"per-class top-1 of mod2alpha's {len(val_classes)} validation "
                                           "classes (no validation run)", "value": best[2]}


def setting_key(row):
    """A setting of a baseline's table (its hyperparameters and, for a ranking model, its epoch) as a dict key."""
    return tuple(sorted(row["hyperparameters"].items()))


def pooled_selection(baseline, paths):
    """The setting of the highest criterion (NIWT's: H at gamma 0) averaged over the validation runs' tables of this
    baseline (tuning.pooled_choice: the first of equals in grid order)."""
    tables = []
    for path in paths:
        record = fileio.read_json(path, "baselines.py on the validation run", ("methods",))
        rows = {row["method"]: row for row in record["methods"]}
        if "settings" not in rows.get(baseline.name, {}):
            raise UserError(f"{path}: no selection table of {baseline.name}; rerun baselines.py on the validation "
                            "run with this version")
        tables.append(rows[baseline.name]["settings"])
    setting, pooled = tuning.pooled_choice(tables, setting_key, CRITERION, paths[0])
    hyper = dict(setting)
    epoch = hyper.pop("epochs", None)
    runs = "the validation run" if len(paths) == 1 else f"{len(paths)} validation runs (pooled)"
    return hyper, epoch, {"criterion": f"{CRITERION} at gamma 0 of {runs}, val classes as unseen", "value": pooled}


def evaluate(scores_seen, scores_unseen, features, n_seen, gamma):
    """The metrics of NIWT's table (metrics.table_metrics) for joint scores of the seen and unseen test images."""
    return metrics.table_metrics(scores_seen, features["seen_test_labels"], scores_unseen,
                                 features["unseen_test_labels"], n_seen, gamma)


def selection_rule(cfg, prepared, features, S, source):
    """How a run chooses each baseline's setting, and a line saying so: a validation run selects on its own val
    classes (None); a final run takes its validation runs' pooled choice, or without one selects on mod2alpha's
    held-out seen classes."""
    if prepared.info["split"] != "proposed":
        return None, f"this validation run's val classes ({CRITERION}; the final run takes the choice)"
    paths = validation_tables(cfg, prepared, source)
    if paths:
        return (lambda baseline: pooled_selection(baseline, paths)), \
            f"{len(paths)} validation run(s)' val classes ({CRITERION}, pooled), then refit on all seen classes"
    X, labels, n_seen = features["trainval_features"], features["trainval_labels"], len(features["seen_ids"])
    split = class_split(cfg, prepared, source)
    return (lambda baseline: select_on_held_out_classes(baseline, X, labels, S[:n_seen], *split, cfg.random_seed)), \
        f"mod2alpha's {len(split[1])} validation classes (top-1), then refit on all seen classes"


def validation_gammas(cfg, prepared):
    """method -> its calibration record (utils/calibration.py: the rule, and the gamma and held-out seen share its
    validation runs selected, averaged over them), for a final run whose `calibration_gamma` names them; else {} (no
    calibration, or a validation run, which selects its own). The held-out seen images of a baseline are the
    seen_val images of trainval, which it trains on (in both runs alike)."""
    if prepared.info["split"] != "proposed" or not isinstance(cfg.calibration_gamma, (str, list)):
        return {}
    selections = collections.defaultdict(list)
    for alpha2w_results in config.listed(cfg.calibration_gamma):
        path = os.path.join(os.path.dirname(alpha2w_results), "baselines", "results.json")
        if not os.path.isfile(path):
            raise UserError(f"{path}: not found ('calibration_gamma' names its validation run); run baselines.py on "
                            "the validation run's config first")
        for row in fileio.read_json(path, "baselines.py on the validation run", ("methods",))["methods"]:
            selections[row["method"]].append(calibration.validation_selection(row, path))
    return {method: {"rule": cfg.calibration_rule, **calibration.pooled(found)} for method, found in selections.items()}


def validation_tables(cfg, prepared, source):
    """The baselines' results of the validation runs a final run takes its selections from
    (`hyperparameters_from`, beside each alpha2w results.json); [] without one."""
    paths = [os.path.join(os.path.dirname(p), "baselines", "results.json")
             for p in tuning.validation_runs(cfg, prepared, source)]
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"{path}: not found ('hyperparameters_from' names its validation run); run baselines.py "
                            "on the validation run's config first")
    return paths


def scored(baseline, params, features, S, gamma_rule, n_seen):
    """Every metric of one fitted baseline on the run's test lists, calibrated by `gamma_rule` if given; with its
    curve and the held-out seen images' scores."""
    joint = [zsl_baselines.scores(baseline, params, features[f"{kind}_test_features"], S)
             for kind in ("seen", "unseen")]
    heldout = zsl_baselines.scores(baseline, params, features["trainval_features"][features["trainval_seen_val"]], S)
    gamma = calibration.gamma(gamma_rule, heldout, n_seen) if gamma_rule else None
    row, curve = evaluate(*joint, features, n_seen, gamma)
    if gamma is not None:
        row["calibration_gamma"] = gamma
    return row, curve, heldout


def gamma0_metrics(baseline, params, features, S, n_seen):
    """T1 and S / U / H at gamma 0 of one fitted baseline: what a validation run's selection table records."""
    seen, unseen = (zsl_baselines.scores(baseline, params, features[f"{kind}_test_features"], S)
                    for kind in ("seen", "unseen"))
    return {"T1": metrics.zsl_top1(unseen, features["unseen_test_labels"], n_seen),
            **metrics.gzsl(seen, features["seen_test_labels"], unseen, features["unseen_test_labels"] + n_seen,
                           n_seen)}


def run_baseline(baseline, features, S, cfg, choice, gammas):
    """A final run: fit the chosen setting (`choice(baseline)`: from the validation runs, or on held-out classes)
    on every seen class and score the test images. A validation run (`choice` None): fit every setting on its seen
    classes, score each on its val classes (its "unseen" ones), keep the highest H at gamma 0 (NIWT's criterion;
    the first of equals in grid order), and select its calibration gamma (best H on that setting's curve), which the
    final run applies."""
    start = time.time()
    X, labels, n_seen = features["trainval_features"], features["trainval_labels"], len(features["seen_ids"])
    if choice is None:
        table, best = [], None
        for hyper, epoch, params in candidates(baseline, X, labels, S[:n_seen], cfg.random_seed):
            row = gamma0_metrics(baseline, params, features, S, n_seen)  # the curve only for the chosen one
            table.append({"hyperparameters": {**hyper, **({"epochs": epoch} if epoch else {})}, **row})
            if best is None or row[CRITERION] > best[0][CRITERION]:
                best = (row, params, hyper, epoch)
        _, params, hyper, epoch = best
        row, curve, heldout = scored(baseline, params, features, S, None, n_seen)
        selection = {"criterion": f"{CRITERION} at gamma 0 of this validation run (val classes as unseen)",
                     "value": row[CRITERION]}
    else:
        hyper, epoch, selection = choice(baseline)
        fitted = zsl_baselines.fit(baseline, hyper, X, labels, S[:n_seen], np.random.default_rng(cfg.random_seed),
                                   epoch)
        params = collections.deque(fitted, maxlen=1)[0] if baseline.iterative else fitted
        row, curve, heldout = scored(baseline, params, features, S, gammas.get(baseline.name), n_seen)
    record = {"method": baseline.name, "hyperparameters": {**hyper, **({"epochs": epoch} if epoch else {})},
              "selection": selection, "grid_edges": zsl_baselines.grid_edges(baseline, hyper, epoch, RANKING_EPOCHS),
              **row, "seconds": round(time.time() - start, 1)}
    if choice is None:
        selected, record["at_selected_gamma"] = metrics.best_gamma(curve)
        record.update(calibration.selection(selected, heldout, n_seen), settings=table)
    return record, curve


def reference_curves(cfg, features):
    """NIWT's kept head (alpha2w's unseen_head.npz) and the ridge baseline's, scored on the same features."""
    head = fileio.read_npz(os.path.join(cfg.ckpt_dir, "unseen_head.npz"), "alpha2w.py")
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
    choice, selected_on = selection_rule(cfg, prepared, features, S, args.config)
    gammas = validation_gammas(cfg, prepared)
    print(f"baselines {cfg.dataset} {cfg.model_name} {cfg.modality}: {features['trainval_features'].shape[1]}-d "
          f"features of {len(features['trainval_labels'])} trainval images, {S.shape[1]}-d domain vectors; "
          f"selected on {selected_on}")
    records, curves = [], reference_curves(cfg, features)
    for baseline in zsl_baselines.BASELINES:
        record, curves[baseline.name] = run_baseline(baseline, features, S, cfg, choice, gammas)
        records.append(record)
        print(f"{baseline.name:14s} {record['hyperparameters']} {record['selection']['value']:.3f} | "
              f"T1 {record['T1']:.3f} | U {record['U']:.3f} S {record['S']:.3f} H {record['H']:.3f}"
              + (f" | calibrated H {record['H_cal']:.3f}" if "H_cal" in record else "")
              + f" | AUSUC {record['AUSUC']:.3f} | {record['seconds']:.1f}s"
              + (f" | on the grid's edge: {', '.join(record['grid_edges'])}" if record["grid_edges"] else ""),
              flush=True)
    with fileio.atomic_dir(os.path.join(cfg.ckpt_dir, "baselines")) as out:
        fileio.write_json(os.path.join(out, "results.json"), {
            "dataset": cfg.dataset, "model_name": cfg.model_name, "modality": cfg.modality,
            "split": prepared.info["split"], "methods": records, "selected_on": selected_on,
            "config": config.resolved_dict(cfg),
            "seconds": round(time.time() - start, 1)})
        plots.plot_curves_together(os.path.join(out, "seen_unseen_curves.png"), curves,
                                   f"{cfg.dataset} {cfg.model_name} {cfg.modality}: seen-unseen accuracy curves")
    print(f"wrote {os.path.join(cfg.ckpt_dir, 'baselines')}: results.json, seen_unseen_curves.png")


if __name__ == "__main__":
    main()
