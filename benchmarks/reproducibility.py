"""The reproducibility study: NIWT's final runs over independently finetuned networks and seeds, one line per run
(the learning rate its validation runs chose, the reg_lambda its balance search kept, with the heads searched and the
held-out seen share against the target; epochs run, kept epoch, T1 / U / S / H / calibrated H / AUSUC), then mean ±
std per network and pooled, beside the baselines and the ridge map, and the checks a run must pass (no collapse:
U >= 20 and H >= 25 at gamma = 0). Each network is one pipeline output folder (`run_pipeline.py --seed N --out D`).
Usage:
    python benchmarks/reproducibility.py /path/net1 /path/net2 ... [--dataset SYNTH]
"""
import argparse
import collections
import os
import sys

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import fileio, results_table

COLUMNS = ("T1", "U", "S", "H", "H_cal", "AUSUC")


def final_runs(folder, dataset):
    """(kind, results) of every final alpha2w and baselines run of `dataset` under a pipeline output folder."""
    found = []
    for path in results_table.find_results([os.path.join(folder, "ckpt", "alpha2w")]):
        results = fileio.read_json(path)
        if results.get("split") == "proposed" and results["dataset"] == dataset:
            found.append(("baselines" if "methods" in results else "niwt", results))
    return found


def rows_of(kind, results):
    """method -> its figures (0-1) of one run."""
    if kind == "baselines":
        return {row["method"]: {c: row.get(c) for c in COLUMNS} for row in results["methods"]}
    direct = results["direct_regression_baseline"]
    return {"NIWT": {**results["gamma0"], "AUSUC": results["AUSUC"],
                     "H_cal": results.get("calibration", {}).get("H")},
            "ridge map": {**{c: direct[c] for c in ("T1", "U", "S", "H", "AUSUC")}, "H_cal": None}}


def balance_cells(results):
    """The heads the balance search trained and the kept one's held-out seen share against its target ("bound":
    not reached within the search); "-" for a run without the search."""
    searched = results.get("balance")
    if not searched:
        return "- | -"
    kept = next(h for h in searched["heads"] if h["reg_lambda"] == searched["chosen_reg_lambda"])
    bound = " (bound)" if searched["at_search_bound"] else ""
    return (f"{len(searched['heads'])} | {100 * kept['heldout_unseen_rate']:.1f} / "
            f"{100 * searched['target_seen_rate']:.1f}{bound}")


def cells(runs):
    out = []
    for column in COLUMNS:
        values = [r[column] for r in runs if r[column] is not None]
        out.append("-" if not values else f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="pipeline output folders, one per finetuned network")
    parser.add_argument("--dataset", default="SYNTH", help="the final run's dataset name (SYNTH, CUB_001_050, ...)")
    args = parser.parse_args()
    table = collections.defaultdict(lambda: collections.defaultdict(list))  # (modality, method) -> net -> rows
    print("| network | modality | seed | lr | reg | heads | held-out share / target | epochs run | kept | T1 | U | S "
          "| H | H cal | AUSUC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    collapsed = []
    for folder in args.folders:
        net = os.path.basename(os.path.normpath(folder))
        for kind, results in final_runs(folder, args.dataset):
            modality = results["modality"]
            for method, row in rows_of(kind, results).items():
                table[(modality, method)][net].append(row)
            if kind != "niwt":
                continue
            row, hyper = rows_of(kind, results)["NIWT"], results["hyperparameters"]
            print(f"| {net} | {modality} | {results['config']['random_seed']} | {hyper['learning_rate']:.3g} | "
                  f"{hyper['reg_lambda']:.3g} | {balance_cells(results)} | {len(results['history'])} | "
                  f"{results['kept_epoch']} | "
                  + " | ".join("-" if row[c] is None else f"{100 * row[c]:.1f}" for c in COLUMNS) + " |")
            if row["U"] < 0.2 or row["H"] < 0.25:
                collapsed.append(f"{net} {modality} seed {results['config']['random_seed']}")
    print(f"\n{args.dataset}: mean ± std (population) over seeds, per network and pooled; per-class top-1 %")
    print("| modality | method | networks | runs | ZSL T1 | U | S | H | H (calibrated) | AUSUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (modality, method), per_net in table.items():
        for net, runs in [*per_net.items(), ("pooled", [r for runs in per_net.values() for r in runs])]:
            if net == "pooled" or method == "NIWT":
                print(f"| {modality} | {method} | {net} | {len(runs)} | " + " | ".join(cells(runs)) + " |")
    print(f"\nruns with U < 20 or H < 25 at gamma 0: {', '.join(collapsed) if collapsed else 'none'}")


if __name__ == "__main__":
    main()
