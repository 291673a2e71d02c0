"""Calibrated stacking's gamma (Chao et al. 2016: gamma is subtracted from the seen classes' scores), selected on a
validation run and carried over to the final run (pooled over the validation run's seeds when the runner runs
several).

A validation run selects the gamma of highest H on its own seen-unseen curve (metrics.best_gamma), its val classes
playing the unseen ones. That gamma is a margin in the logits of the validation run's heads, whose scale and number of
unseen classes are not the final run's, so the margin itself does not transfer (on the generated data it lowered H).
What is carried over by default (`calibration_rule` "seen_rate") is the share of held-out seen images, the seen_val
images the finetuning never trained on, that the selected gamma sends to an unseen class; the final run takes the gamma
that sends the same share of its own seen_val images to an unseen class, per head. "margin": the selected gamma
itself. Neither looks at a test image.
"""
import os

import numpy as np

from utils import config, fileio
from utils.cli import UserError

RULES = ("seen_rate", "margin")


def margins(scores, n_seen):
    """Per image: best seen minus best unseen score; an image goes to an unseen class iff its margin < gamma."""
    return scores[:, :n_seen].max(1) - scores[:, n_seen:].max(1)


def unseen_rate(heldout_scores, n_seen, gamma):
    """The share of held-out seen images [N, n_seen + n_unseen] that gamma sends to an unseen class."""
    return float(np.mean(margins(heldout_scores, n_seen) < gamma))


def gamma_at_rate(heldout_scores, n_seen, rate):
    """The gamma that sends round(rate * N) of the held-out seen images to an unseen class: midway between the
    margins on either side of that count (the smallest margin itself when none go)."""
    ordered = np.sort(margins(heldout_scores, n_seen))
    k = int(round(rate * len(ordered)))
    if k == 0:
        return float(ordered[0])
    if k == len(ordered):
        return float(ordered[-1] + 1.0)
    return float((ordered[k - 1] + ordered[k]) / 2)


def gamma(rule_record, heldout_scores, n_seen):
    """The gamma a final run applies to one head: by the rule its calibration record names."""
    if rule_record["rule"] == "seen_rate":
        return gamma_at_rate(heldout_scores, n_seen, rule_record["seen_rate"])
    return rule_record["gamma"]


def selection(gamma_selected, heldout_scores, n_seen):
    """What a validation run records of its selected gamma: the margin and the held-out seen share it sends to an
    unseen class (the two things a final run can carry over)."""
    return {"selected_gamma": gamma_selected, "seen_rate": unseen_rate(heldout_scores, n_seen, gamma_selected)}


def from_config(value, rule, split, source):
    """The calibration of a final run from `calibration_gamma`: None; {"rule": "margin", "gamma"} for a number;
    or, for a validation run's alpha2w results.json, {"rule", "gamma", "seen_rate", "chosen_by"} of its selection
    (for several, their mean: pooled). A validation run selects its own: None."""
    if value is None:
        return None
    if split != "proposed":
        raise UserError(f"{source}: 'calibration_gamma' applies to a final run; this validation run ({split}) "
                        "selects gamma itself, so set it to null")
    if not isinstance(value, (str, list)):
        return {"rule": "margin", "gamma": float(value), "chosen_by": source}
    selections = []
    for path in config.listed(value):
        if not os.path.isfile(path):
            raise UserError(f"{path}: not found ('calibration_gamma'); run alpha2w.py on the validation config "
                            "first, or set a number or null")
        record = fileio.read_json(path, "alpha2w.py on the validation config")
        selections.append(validation_selection(record.get("calibration", {}), path))
    chosen_by = [os.path.abspath(path) for path in value] if isinstance(value, list) else os.path.abspath(value)
    return {"rule": rule, **pooled(selections), "chosen_by": chosen_by}


def pooled(selections):
    """{gamma, seen_rate} averaged over validation runs' selections: the seeds of one protocol carry over one
    operating point (a single validation run's share scatters with its seed: 0.24-0.56 over three on the
    generated attributes), as they share one learning_rate and reg_lambda."""
    return {key: float(np.mean([selection[key] for selection in selections])) for key in ("gamma", "seen_rate")}


def validation_selection(record, path):
    """{gamma, seen_rate} from a validation run's calibration record (alpha2w's, or a baseline's row)."""
    if record.get("selected_gamma") is None or record.get("seen_rate") is None:
        raise UserError(f"{path}: not the results of a validation run (no selected_gamma and seen_rate); point "
                        "'calibration_gamma' at a run on a validation1..3 preparation, made by this version (rerun it)")
    return {"gamma": float(record["selected_gamma"]), "seen_rate": float(record["seen_rate"])}
