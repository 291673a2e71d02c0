"""The GZSL results table in the paper's form, from alpha2w.py's results.json files, beside published reference rows.

Runs of the same dataset, split, net and modality (e.g. several seeds) are one row: mean +- std over the runs, with
their count. Numbers are per-class mean top-1 in percent; H at gamma = 0 is the headline (the protocol), calibrated H
is H at the held-out seen share the validation runs selected, AUSUC the area under the seen-unseen curve.
"""
import glob
import os

import numpy as np

from utils import fileio
from utils.cli import UserError

SOURCE_XIAN = "Xian et al. 2018, TPAMI (ResNet-101 features, proposed split)"
# dataset -> (method, U, S, H): Xian et al. 2018's GZSL numbers on the proposed split (their TPAMI paper, Table 5)
REFERENCES = {
    "AWA2": [("ALE", 14.0, 81.8, 23.9), ("DEVISE", 17.1, 74.7, 27.8), ("SJE", 8.0, 73.9, 14.4),
             ("ESZSL", 5.9, 77.8, 11.0), ("LATEM", 11.5, 77.3, 20.0), ("SYNC", 10.0, 90.5, 18.0)],
    "CUB": [("ALE", 23.7, 62.8, 34.4), ("DEVISE", 23.8, 53.0, 32.8), ("SJE", 23.5, 59.2, 33.6),
            ("ESZSL", 12.6, 63.8, 21.0), ("LATEM", 15.2, 57.3, 24.0), ("SYNC", 11.5, 70.9, 19.8)],
}
COLUMNS = ("T1", "U", "S", "H", "H_cal", "AUSUC")
HEADER = ["dataset", "net", "modality", "ZSL T1", "U", "S", "H", "H (calibrated)", "AUSUC", "runs", "source"]


def find_results(paths):
    """results.json files: the given files, and every results.json under the given folders."""
    found = []
    for path in paths:
        if os.path.isfile(path):
            found.append(path)
        elif os.path.isdir(path):
            found += sorted(glob.glob(os.path.join(path, "**", "results.json"), recursive=True))
        else:
            raise UserError(f"{path}: no such file or folder; give alpha2w results.json files or their folders")
    return found


BASELINE = "{} -> weights (ridge baseline)"  # the modality cell of alpha2w's direct-regression baseline


BASELINE_METHOD = "{}: {} (baseline)"  # the modality cell of a standard baseline of baselines.py


def metrics_of(results, path):
    """The table's rows (key, numbers 0-1) of one alpha2w run: NIWT, calibrated H only where a gamma was applied;
    then its direct-regression baseline on the same features, where the run has one. Of a baselines.py run: one
    row per method."""
    if "methods" in results:
        key = (results["dataset"], results["model_name"], results["modality"], results["split"])
        return [((*key[:2], BASELINE_METHOD.format(key[2], row["method"]), key[3]),
                 {**{k: row[k] for k in ("T1", "U", "S", "H", "AUSUC")}, "H_cal": row.get("H_cal")})
                for row in results["methods"]]
    try:
        row = {key: results["gamma0"][key] for key in ("T1", "U", "S", "H")}
        row["AUSUC"] = results["AUSUC"]
        calibration = results.get("calibration", {})  # a final run's applied gamma; a validation run selects one
        row["H_cal"] = calibration.get("H") if "gamma" in calibration else None
        key = (results["dataset"], results["model_name"], results["modality"], results["split"])
        out = [(key, row)]
        if "direct_regression_baseline" in results:
            baseline = results["direct_regression_baseline"]
            out.append(((*key[:2], BASELINE.format(key[2]), key[3]),
                        {**{k: baseline[k] for k in ("T1", "U", "S", "H", "AUSUC")}, "H_cal": None}))
        return out
    except (KeyError, TypeError):
        raise UserError(f"{path}: not an alpha2w results.json (no gamma0/AUSUC); point the report at alpha2w "
                        "ckpt_dir folders") from None


def cell(values):
    """'mean' for one run, 'mean +- std' (population std) for several, '-' when there is none."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = 100 * float(np.mean(values))
    return f"{mean:.1f}" if len(values) == 1 else f"{mean:.1f} ± {100 * float(np.std(values)):.1f}"


def rows(result_paths):
    """One row per (dataset, split, net, modality): its cells and the runs behind it, in first-seen order."""
    groups = {}
    for path in result_paths:
        for key, row in metrics_of(fileio.read_json(path, "its stage (alpha2w.py or baselines.py)"), path):
            groups.setdefault(key, []).append(row)
    out = []
    for (dataset, net, modality, split), runs in groups.items():
        name = dataset if split == "proposed" else f"{dataset} ({split} run)"
        out.append([name, net, modality] + [cell([r[c] for r in runs]) for c in COLUMNS]
                   + [str(len(runs)), "this code"])
    return out, sorted({key[0] for key in groups})


def reference_rows(datasets):
    return [[dataset, "ResNet-101 features", method, "-", f"{u:.1f}", f"{s:.1f}", f"{h:.1f}", "-", "-", "-",
             SOURCE_XIAN] for dataset in datasets if dataset in REFERENCES for method, u, s, h in REFERENCES[dataset]]


def markdown(result_paths, references=True):
    """The table as markdown text (with a note on what the columns mean)."""
    ours, datasets = rows(result_paths)
    table = ours + (reference_rows(datasets) if references else [])
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    lines += ["", "Per-class mean top-1 (%). ZSL T1: unseen test images among the unseen classes. U / S: unseen / seen "
              "test images among all classes; H = 2US/(U+S), at gamma = 0 (the protocol). H (calibrated): at the "
              "held-out seen share the validation runs selected (calibrated stacking, pooled over their seeds). "
              "AUSUC: area under the seen-unseen curve. "
              "Several runs of one setting: mean ± std. '-> weights (ridge baseline)': the same run's unseen weights "
              "regressed directly from the domain vectors onto the seen weights, no importances. '(baseline)': ESZSL, "
              "SAE, ALE, SJE, DeViSE trained on the same frozen features, hyperparameters chosen on validation classes "
              "(baselines.py). Reference rows: "
              "their method names in the modality column."]
    return "\n".join(lines) + "\n"
