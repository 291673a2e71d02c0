"""What each calibration rule gives on final runs, over seeds: H at gamma = 0 (the protocol), H with the validation
run's share of held-out seen images sent to unseen ("seen_rate", the default) and H with the validation run's
margin itself ("margin"), for NIWT and for every baseline of baselines.py. A final run records both rules (alpha2w:
`calibration` and its `other_rule`; the baselines: the applied rule only, so run them once per rule). Usage:
    python benchmarks/calibration_study.py ckpt/alpha2w [runs/...]
"""
import argparse
import collections
import os
import sys

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import fileio, results_table


def mean_std(values):
    return f"{100 * np.mean(values):5.1f} ± {100 * np.std(values):4.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="alpha2w results.json files or folders")
    args = parser.parse_args()
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in results_table.find_results(args.paths):
        results = fileio.read_json(path)
        if results.get("split") != "proposed":  # validation runs select; they apply no calibration
            continue
        key = (results["dataset"], results["model_name"], results["modality"])
        if "methods" in results:
            for row in results["methods"]:
                groups[key + (row["method"],)]["gamma 0"].append(row["H"])
                if "H_cal" in row:
                    groups[key + (row["method"],)][results["config"]["calibration_rule"]].append(row["H_cal"])
            continue
        calibration = results.get("calibration")
        if calibration is None:
            continue
        groups[key + ("NIWT",)]["gamma 0"].append(results["gamma0"]["H"])
        groups[key + ("NIWT",)][calibration["rule"]].append(calibration["H"])
        if "other_rule" in calibration:
            groups[key + ("NIWT",)][calibration["other_rule"]["rule"]].append(calibration["other_rule"]["H"])
    print("| dataset | net | modality | method | seeds | H, gamma 0 | H, seen_rate | H, margin |")
    print("|---|---|---|---|---|---|---|---|")
    for key, rules in groups.items():
        cells = [mean_std(rules[r]) if rules.get(r) else "-" for r in ("gamma 0", "seen_rate", "margin")]
        print("| " + " | ".join([*key, str(len(rules["gamma 0"])), *cells]) + " |")


if __name__ == "__main__":
    main()
