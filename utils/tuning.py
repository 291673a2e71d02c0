"""NIWT's own knobs chosen on a validation run only: its alpha2w trains one unseen head per setting of a small grid of
learning_rate x reg_lambda around the config's (the original's) values, on the same probes and examples, and keeps
the setting whose kept epoch has the highest H at gamma = 0 on the run's "unseen" classes, which are seen classes
held out of the finetuning (valclassesN), so no test image is involved. The final run reads the selection from the
validation run's results.json (`hyperparameters_from`); given several (the runner's seeds, `tuning_seeds`), it
averages each setting's H over them and takes the best, so that every seed trains with one choice, made on more
than one draw of mod2alpha's map and of the head's initialisation. The heads are trained and stopped exactly as the
final run's (the same `zsl_loss_estop_rule`), so the choice is made under the behaviour it is used with.

H at gamma = 0 is the criterion because it is the protocol's headline and what the two knobs move: the cosine loss
fixes each unseen weight vector's direction but not its length, and reg_lambda's pull towards the mean seen weight
sets that length, hence how often an unseen class outscores the seen ones. AUSUC, which integrates over the
operating point, barely sees it (on the generated data the grid's AUSUC spanned 0.27-0.31 while H went from 0 to
0.39) and so chose the grid's largest regulariser, whose heads never predict an unseen class at gamma = 0.
"""
import os

import numpy as np

from utils import config, fileio
from utils.cli import UserError
from utils.experiment import TUNING_GRID

CRITERION = "H"


def own(cfg):
    return {"learning_rate": cfg.learning_rate, "reg_lambda": cfg.reg_lambda}


def grid(cfg):
    """The settings a validation run compares: the grid's factors of the config's values, the config's own first
    (it wins ties)."""
    factors = {key: [1.0] for key in TUNING_GRID} | (cfg.tuning_grid or {})
    settings = [{"learning_rate": cfg.learning_rate * a, "reg_lambda": cfg.reg_lambda * b}
                for a in factors["learning_rate"] for b in factors["reg_lambda"]]
    return [own(cfg)] + [s for s in settings if s != own(cfg)]


def validation_runs(cfg, prepared, source):
    """The validation runs' result files a final run takes its selections from (`hyperparameters_from`: one, or
    several to pool), checked; [] without one."""
    paths = cfg.hyperparameters_from
    if paths is None:
        return []
    if prepared.info["split"] != "proposed":
        raise UserError(f"{source}: 'hyperparameters_from' applies to a final run; this validation run "
                        f"({prepared.info['split']}) selects its own (tuning_grid), so set it to null")
    paths = config.listed(paths)
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"{path}: not found ('hyperparameters_from'); run alpha2w.py on the validation config "
                            "first, or set it to null")
    return paths


def pooled_choice(tables, key, criterion, where):
    """The setting of the highest criterion averaged over the validation runs' tables (lists of setting rows
    with their criterion), the first of equals in the first table's order; every table must hold the same
    settings. Returns (the setting, its pooled criterion)."""
    pooled = {}
    for table in tables:
        for row in table:
            pooled.setdefault(key(row), []).append(row[criterion])
    incomplete = [setting for setting, values in pooled.items() if len(values) != len(tables)]
    if incomplete:
        raise UserError(f"{where}: the validation runs pooled did not tune the same settings ({incomplete[0]} is "
                        "missing from some); rerun them with one config")
    order = [key(row) for row in tables[0]]
    best = max(order, key=lambda setting: np.mean(pooled[setting]))  # max keeps the first of equals
    return best, float(np.mean(pooled[best]))


def from_validation_run(cfg, prepared, source):
    """The setting a final run trains with: the pooled selection of its validation runs (`hyperparameters_from`),
    or the config's; with where it came from."""
    paths = validation_runs(cfg, prepared, source)
    if not paths:
        return {**own(cfg), "chosen_by": source}
    tables = []
    for path in paths:
        settings = fileio.read_json(path, "alpha2w.py on the validation config").get("tuning", {}).get("settings")
        if settings is None:
            raise UserError(f"{path}: not the results of a tuned validation run (no tuning.settings); point "
                            "'hyperparameters_from' at the alpha2w results.json of a validation run with a "
                            "tuning_grid")
        tables.append(settings)
    (learning_rate, reg_lambda), pooled = pooled_choice(
        tables, lambda row: (row["learning_rate"], row["reg_lambda"]), CRITERION, paths[0])
    return {"learning_rate": learning_rate, "reg_lambda": reg_lambda,
            "chosen_by": [os.path.abspath(p) for p in paths] if len(paths) > 1 else os.path.abspath(paths[0]),
            f"pooled_{CRITERION}": pooled}


def setting_name(hyper):
    return f"lr{hyper['learning_rate']:.3g}_reg{hyper['reg_lambda']:.3g}"


def describe(hyper, kept):
    row = kept["row"]
    return (f"learning_rate {hyper['learning_rate']:.3g} reg_lambda {hyper['reg_lambda']:.3g}: kept epoch "
            f"{row['epoch']} | T1 {row['T1']:.3f} | U {row['U']:.3f} S {row['S']:.3f} H {row['H']:.3f} | AUSUC "
            f"{row['AUSUC']:.3f}")


def select(fits):
    """The fit of the highest criterion (the first of equals: the config's own setting comes first)."""
    return max(fits, key=lambda fit: fit["kept"]["row"][CRITERION])


def record(fits, chosen):
    """results.json's `tuning` of a validation run: every setting's kept-epoch figures and the selection."""
    rows = [{**fit["hyper"], "kept_epoch": fit["kept"]["row"]["epoch"],
             **{k: fit["kept"]["row"][k] for k in ("T1", "U", "S", "H", "AUSUC")}} for fit in fits]
    return {"criterion": f"{CRITERION} at gamma 0 of the kept epoch on this validation run (val classes as unseen)",
            "settings": rows, "selected": dict(chosen["hyper"])}
