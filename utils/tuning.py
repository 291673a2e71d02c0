"""NIWT's own knobs chosen on a validation run only: its alpha2w trains one unseen head per setting of a small grid of
learning_rate x reg_lambda around the config's (the original's) values, on the same probes and examples, and keeps
the setting whose kept epoch has the highest AUSUC on the run's "unseen" classes, which are seen classes held out of
the finetuning (valclassesN), so no test image is involved. The final run of the same seed reads the selection from
the validation run's results.json (`hyperparameters_from`), as it reads its calibration gamma.

AUSUC is the criterion because it scores the whole seen-unseen trade-off independently of the operating point: the
gamma that sets the operating point is chosen afterwards on the same run, and H at one gamma over a handful of
validation classes is a noisier figure than the area under the curve.
"""
import os

from utils import io
from utils.cli import UserError
from utils.experiment import TUNING_GRID

CRITERION = "AUSUC"


def own(cfg):
    return {"learning_rate": cfg.learning_rate, "reg_lambda": cfg.reg_lambda}


def grid(cfg):
    """The settings a validation run compares: the grid's factors of the config's values, the config's own first
    (it wins ties)."""
    factors = {key: [1.0] for key in TUNING_GRID} | (cfg.tuning_grid or {})
    settings = [{"learning_rate": cfg.learning_rate * a, "reg_lambda": cfg.reg_lambda * b}
                for a in factors["learning_rate"] for b in factors["reg_lambda"]]
    return [own(cfg)] + [s for s in settings if s != own(cfg)]


def from_validation_run(cfg, prepared, source):
    """The setting a final run trains with: its validation run's selection (`hyperparameters_from`), or the
    config's; with where it came from."""
    path = cfg.hyperparameters_from
    if path is None:
        return {**own(cfg), "chosen_by": source}
    if prepared.info["split"] != "proposed":
        raise UserError(f"{source}: 'hyperparameters_from' applies to a final run; this validation run "
                        f"({prepared.info['split']}) selects its own (tuning_grid), so set it to null")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found ('hyperparameters_from'); run alpha2w.py on the validation config first, "
                        "or set it to null")
    selected = io.read_json(path).get("tuning", {}).get("selected")
    if selected is None:
        raise UserError(f"{path}: not the results of a tuned validation run (no tuning.selected); point "
                        "'hyperparameters_from' at the alpha2w results.json of a validation run with a tuning_grid")
    return {"learning_rate": selected["learning_rate"], "reg_lambda": selected["reg_lambda"],
            "chosen_by": os.path.abspath(path)}


def setting_name(hyper):
    return f"lr{hyper['learning_rate']:.3g}_reg{hyper['reg_lambda']:.3g}"


def describe(hyper, kept):
    row = kept["row"]
    return (f"learning_rate {hyper['learning_rate']:.3g} reg_lambda {hyper['reg_lambda']:.3g}: kept epoch "
            f"{row['epoch']} | T1 {row['T1']:.3f} | H {row['H']:.3f} | {CRITERION} {row[CRITERION]:.3f}")


def select(fits):
    """The fit of the highest criterion (the first of equals: the config's own setting comes first)."""
    return max(fits, key=lambda fit: fit["kept"]["row"][CRITERION])


def record(fits, chosen):
    """results.json's `tuning` of a validation run: every setting's kept-epoch figures and the selection."""
    rows = [{**fit["hyper"], "kept_epoch": fit["kept"]["row"]["epoch"],
             **{k: fit["kept"]["row"][k] for k in ("T1", "U", "S", "H", "AUSUC")}} for fit in fits]
    return {"criterion": f"{CRITERION} of the kept epoch on this validation run (val classes as unseen)",
            "settings": rows, "selected": dict(chosen["hyper"])}
