"""The seen-unseen balance of a final run's head at gamma = 0, set by its regulariser and chosen on its own held-out
seen images (`reg_lambda_rule` "seen_rate").

The cosine loss fixes each unseen weight vector's direction, not its length; reg_lambda's pull towards the mean seen
weight sets the length, hence how often an unseen class outscores the seen ones. Which reg_lambda gives which balance
depends on the network and on the number of unseen classes, so the validation run's value does not transfer: on the
generated data it chose the same reg_lambda on every network, where its heads leant to the seen classes (17 of 18),
and the final runs with it leant to the unseen ones (docs/results.md). What transfers is an operating point: the share
of held-out seen images (seen_val, never trained on) that the validation run's selected gamma sends to an unseen class
(its calibration's `seen_rate`, averaged over the runs pooled). A final run starts at the validation run's
reg_lambda and steps it by half decades towards that share at gamma 0 until the share is crossed (or two decades are
searched), then bisects the crossed half decade (on a log scale) until a head's share is within one binomial standard
error of the target on the held-out images, or for at most BISECTIONS heads: the share can fall steeply within one
half decade (0.46 to 0.14 between 3.2e-4 and 1e-3 on one network), and a head left far from the target leaves the
calibration a long way to move gamma. It keeps the head whose share is the closest (the first trained of equals). The
share falls as reg_lambda grows. No test image is read.
"""
import numpy as np

from utils import calibration, fileio
from utils.cli import UserError

STEP = 10 ** 0.5   # half a decade
MAX_STEPS = 4      # two decades either way
BISECTIONS = 3     # the crossed half decade narrowed to a sixteenth of a decade at most


def target(cfg, prepared, settings, paths, source):
    """{"seen_rate", "from"}: the held-out seen share a final run's head should send to unseen classes at gamma 0,
    from the validation runs it takes its hyperparameters from (`paths`); None where the rule does not apply."""
    if cfg.reg_lambda_rule != "seen_rate" or prepared.info["split"] != "proposed" or not paths:
        return None
    if settings[0]["reg_lambda"] <= 0:
        raise UserError(f"{source}: 'reg_lambda_rule' seen_rate steps reg_lambda by factors of {STEP:.3g} from the "
                        "validation run's choice, which is 0; tune a positive reg_lambda, or set 'reg_lambda_rule' "
                        "to \"validation\"")
    rates = [calibration.validation_selection(fileio.read_json(path, "alpha2w.py on the validation config")
                                              .get("calibration", {}), path)["seen_rate"] for path in paths]
    return {"seen_rate": float(np.mean(rates)), "from": paths}


def search(fit_at, reg_lambda, seen_rate):
    """Heads at reg_lambda x STEP^k, k = 0, then +-1, +-2 ... towards `seen_rate` (up while a head sends more held-out
    seen images to unseen classes than that), until it is crossed or |k| = MAX_STEPS; then the geometric midpoints of
    the two heads that bracket it, while the closest head is further than `close_enough`. `fit_at(reg)` trains one
    head and gives its share at gamma 0 as "heldout_unseen_rate" over "heldout_images". Each fit is tagged with how it
    was searched ("search": "step" or "bisection"). Returns (the fits in training order, the chosen one)."""
    def distance(fit):
        return abs(fit["heldout_unseen_rate"] - seen_rate)

    def fit_by(reg, how):
        fitted = fit_at(reg)
        fitted["search"] = how
        return fitted

    def beyond(fit):  # still on the starting head's side of the target
        return (fit["heldout_unseen_rate"] - seen_rate) * direction > 0

    fits = [fit_by(reg_lambda, "step")]
    direction = 1 if fits[0]["heldout_unseen_rate"] > seen_rate else -1
    step = 0
    while abs(step) < MAX_STEPS and beyond(fits[-1]):
        step += direction
        fits.append(fit_by(reg_lambda * STEP ** step, "step"))
    if len(fits) > 1 and not beyond(fits[-1]):
        near, far = fits[-2], fits[-1]
        tolerance = close_enough(seen_rate, fits[0]["heldout_images"])
        for _ in range(BISECTIONS):
            if min(map(distance, fits)) <= tolerance:
                break
            fits.append(fit_by(float(np.sqrt(near["hyper"]["reg_lambda"] * far["hyper"]["reg_lambda"])), "bisection"))
            near, far = (fits[-1], far) if beyond(fits[-1]) else (near, fits[-1])
    return fits, min(fits, key=distance)  # min keeps the first of equals


def close_enough(seen_rate, n_images):
    """One binomial standard error of a share `seen_rate` measured on n_images held-out images: heads closer to the
    target than that cannot be told apart by them."""
    return float(np.sqrt(seen_rate * (1 - seen_rate) / n_images))


def record(balance_target, fits, chosen):
    """results.json's `balance`: the target, every head searched (its held-out share; its test figures for the
    record, never selected on) and the choice, flagged where the search ended at its bound (every head on the
    starting side of the target)."""
    rate = balance_target["seen_rate"]
    rows = [{"reg_lambda": fit["hyper"]["reg_lambda"], "search": fit["search"],
             "kept_epoch": fit["kept"]["row"]["epoch"], "heldout_unseen_rate": fit["heldout_unseen_rate"],
             **{k: fit["kept"]["row"][k] for k in ("T1", "U", "S", "H")}} for fit in fits]
    offsets = [fit["heldout_unseen_rate"] - rate for fit in fits]
    return {"rule": "seen_rate", "target_seen_rate": rate, "target_from": balance_target["from"],
            "close_enough": close_enough(rate, fits[0]["heldout_images"]), "heads": rows,
            "chosen_reg_lambda": chosen["hyper"]["reg_lambda"],
            "at_search_bound": all(offset * offsets[0] > 0 for offset in offsets)}


def describe(fit):
    return (f"reg_lambda {fit['hyper']['reg_lambda']:.3g}: held-out seen images sent to an unseen class at gamma 0 "
            f"{fit['heldout_unseen_rate']:.3f}, kept epoch {fit['kept']['row']['epoch']}")
