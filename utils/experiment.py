"""The NIWT experiment config: one JSON per dataset x network x modality (`arg_configs/<net>_config_<DATASET>.json`),
read by mod2alpha.py, alpha2w.py and explain.py, as in the original release. Paths are relative to the repository
root.

Keys keep the original's names and meanings; new keys are marked "(new)". A config states what its experiment
chooses: the rest has the original's defaults, network facts come from the nets factory (utils/nets_factory.py),
counts from the data (`n_attr` from the domain vectors, `n_alphas` from the alphas, `n_train_class` from the seen
classes) and every stage-to-stage path from the output layout (utils/layout.py) of (dataset, model_name, modality).
A stated fact must agree with the derived one; a stated path is used as given. Each stage requires its own keys and
the common ones; the other stage's keys may be left out (a config for one stage only), but unknown keys are errors.
"""
import dataclasses
import os

from utils import class_order, config, fileio, layout, nets_factory
from utils.cli import UserError
from utils.config import AT_LEAST_ONE, DERIVED, NON_NEGATIVE, POSITIVE, Field, Range

MODALITIES = ("attributes", "captions", "wikipedia")
CAPTION_FORMATS = ("reed_w2v", "sent_mat", "text")
SAMPLING_MODES = ("imagenet", "seen", "noise")
OPTIMIZERS = ("adam", "sgd", "sgd_momentum")
DEFAULT_SEED = 1234
HELD_OUT_SEEN_CLASSES = 5  # the original holds out 5 seen classes to validate mod2alpha (AwA2 35/40, CUB 145/150)
# a validation run's alpha2w grid: factors of the config's (the original's) values; for the regulariser, whose useful
# scale depends on the feature dimension and which sets the unseen weights' length (hence the seen-unseen balance at
# gamma 0), two decades below and one above; for the step size, which under the epoch rule changes the epochs far
# more than the head (docs/alpha2w.md), the config's and half a decade above (a third of it took 2-4x the epochs)
TUNING_GRID = {"learning_rate": [1.0, 3.0], "reg_lambda": [0.01, 0.1, 1.0, 10.0]}

COMMON = {
    "dataset": Field((str,), help="the run's name, e.g. CUB or SYNTH_val1: it keys the output layout"),
    "prepared_dir": Field((str,), default=DERIVED, help="(new) the prepared folder (default data/prepared/<dataset>)"),
    "random_seed": Field((int,), default=DEFAULT_SEED, valid=NON_NEGATIVE,
                         help="another seed than the default gets its own output folders (utils/layout.py)"),
    "modality": Field((str,), default="attributes", choices=MODALITIES),
    "model_name": nets_factory.MODEL_FIELDS["model_name"],
    "n_alphas": Field((int,), default=DERIVED, valid=AT_LEAST_ONE, help="channels of the alpha layer (derived)"),
    "alphadir": Field((str,), default=DERIVED, help="alpha_extraction.py's save_path (derived)"),
    "dom2alpha_ckpt_dir": Field((str,), default=DERIVED,
                                help="mod2alpha output folder: best checkpoint and class alphas (derived)"),
    "learning_rate": Field((float,), valid=POSITIVE, help="of both trained stages, as in the original"),
    "num_epochs": Field((int,), valid=AT_LEAST_ONE, help="of both trained stages, as in the original"),
}

MOD2ALPHA = {
    "supervision": Field((str,), default="class", choices=("class",), help="domain vectors are per class"),
    "classattrdir": Field((str, type(None)), default=DERIVED,
                          help="continuous class attributes: the prepared class_attributes.npy (default) or the "
                               "official .txt"),
    "classattrdir_binary": Field((str, type(None)), default=DERIVED,
                                 help="binary class attributes (default: the prepared .npy)"),
    "a2t": Field((bool,), default=False, help="use classattrdir_binary instead of classattrdir"),
    "attrdir": Field((str, type(None)), default=None,
                     help="captions / wikipedia source: see caption_format; wikipedia: a .mat with PredicateMatrix"),
    "caption_format": Field((str, type(None)), default=None, choices=CAPTION_FORMATS + (None,),
                            help="(new) captions: reed_w2v (attrdir 'text_c10,w2v_c10'), sent_mat (xlsa17 .mat), "
                                 "text (TF-IDF of text files)"),
    "text2alpha_ckpt": Field((str, type(None)), default=None,
                             help="a released map of the original (its ckpt.zip 'text2alpha' checkpoints): mod2alpha "
                                  "predicts with it instead of training (utils/text2alpha.py)"),
    "n_attr": Field((int,), default=DERIVED, valid=AT_LEAST_ONE,
                    help="length of the domain vectors (derived; text captions: the vocabulary size, required)"),
    "n_train_class": Field((int,), default=DERIVED, valid=AT_LEAST_ONE,
                           help=f"seen classes that train the map; the other seen classes validate it (default: all "
                                f"but {HELD_OUT_SEEN_CLASSES}, as the original's 35/40 and 145/150)"),
    "dom2alpha_model": Field((str,), default="linear", choices=("linear", "multilayer", "2layer")),
    "n_hidden_1": Field((int, type(None)), default=None, valid=AT_LEAST_ONE, help="multilayer: first hidden layer"),
    "n_hidden_2": Field((int, type(None)), default=None, valid=AT_LEAST_ONE, help="multilayer: second hidden layer"),
    "n_hidden": Field((int, type(None)), default=None, valid=AT_LEAST_ONE, help="2layer: hidden layer"),
    "alpha_loss_type": Field((str,), default="cd", choices=("cd", "l1", "cdandl1")),
    "cdl1_reg": Field((float,), default=1.0, valid=NON_NEGATIVE, help="cdandl1: weight of the cosine term"),
    "dom2alpha_lambda_reg": Field((float,), default=0.0, valid=NON_NEGATIVE,
                                  help="weight of |l2(pred) - l2(alphas)| per batch"),
    "dom2alpha_batch_size": Field((int,), default=64, valid=AT_LEAST_ONE),
    "class_level_loss": Field((bool,), default=True,
                              help="(new) cd loss evaluated exactly with one term per class; false: per image"),
    "refit_all_seen": Field((bool,), default=True,
                            help="(new) after the val classes choose the epoch, train the map again on every seen "
                                 "class for that many epochs (the ridge map at its chosen lambda too); false: the "
                                 "original's map of the chosen epoch, trained on n_train_class classes"),
    "class_alphas_from": Field((str,), default="ridge", choices=("ridge", "trained"),
                               help="(new) the map whose predicted alphas alpha2w reads: the closed-form ridge map "
                                    "(lambda chosen on the val classes) or the trained map (the original's; also "
                                    "whenever text2alpha_ckpt gives a released one)"),
    "ridge_lambda": Field((float, str), default="-3,4", valid=POSITIVE,
                          help="(new) closed-form ridge baseline: a number or a log10 range chosen on val classes"),
}

ALPHA2W = {
    "ckpt_path": Field((str,), default=DERIVED,
                       help="the finetuned seen network: a prefix or a folder such as <save_path>/best (derived)"),
    "ckpt": Field((str,), default="new", choices=("new", "old"),
                  help="the original's restore: \"old\" takes the network's variables that ckpt_path lacks from "
                       "orig_ckpt_path (the ImageNet checkpoint), as its released ResNet models need"),
    "orig_ckpt_path": Field((str, type(None)), default=None, help="the ImageNet checkpoint that ckpt \"old\" reads"),
    "seen_class_order": class_order.SEEN_CLASS_ORDER,
    **{key: field for key, field in nets_factory.MODEL_FIELDS.items() if key != "model_name"},
    "layer_name": Field((str,), default=DERIVED,
                        help="alpha layer, e.g. conv5/conv5_3 or vgg_16/conv5/conv5_3 (default: the net's)"),
    "last_layer": Field((str, type(None)), default=None,
                        help="penultimate end point the heads read (vgg_16/fc7, resnet_v1_101/block4); checked"),
    "batch_size": Field((int,), default=64, valid=AT_LEAST_ONE, help="examples per alpha2w step"),
    "num_workers": Field((int,), default=2, valid=AT_LEAST_ONE, help="parallel image decoding"),
    "unseen_w_init": Field((str,), default="seen_centered", choices=("seen_centered", "seen_mean", "xavier"),
                           help="per input dim N(mean, std) of the seen weights, their mean, or slim's default "
                                "(Glorot uniform: the original's VGG path for any other value)"),
    "sampling_mode": Field((str,), default="imagenet", choices=SAMPLING_MODES,
                           help="probe images: a list, seen train images, noise"),
    "sampling_images": Field((str, type(None)), default=None,
                             help="imagenet: a pickled list of image paths or a text list, one path per line"),
    "n_probe_images": Field((int,), default=3000, valid=AT_LEAST_ONE,
                            help="(new) probe images drawn with the seed (the original: 3000)"),
    "examples_per_class": Field((int, str), default=200, valid=AT_LEAST_ONE,
                                help="(new) examples per unseen class, or \"test_counts\" (the original)"),
    "reg_lambda": Field((float,), valid=NON_NEGATIVE, help="weight of the pull towards the mean seen weight"),
    "reg_loss": Field((str,), default="dimn_wise_l2", choices=("dimn_wise_l2",)),
    "optimizer": Field((str,), default="adam", choices=OPTIMIZERS),
    "zsl_loss_estop_rule": Field((str,), default="epoch", choices=("epoch", "iteration"),
                                 help="(new) early stopping on the epoch-mean loss, or the original's on every "
                                      "minibatch loss (utils/stopping.UnseenHeadStopping)"),
    "zsl_loss_estop_epochs": Field((int,), default=5, valid=AT_LEAST_ONE,
                                   help="(new) rule epoch: epochs without improvement before stopping"),
    "zsl_loss_estop_window": Field((int,), default=40, valid=AT_LEAST_ONE,
                                   help="rule iteration (the original's): iterations without improvement before "
                                        "stopping"),
    "eps_perc": Field((float,), default=0.01, valid=Range(0, 1, high_open=True),
                      help="relative loss decrease (of an epoch mean, or of a minibatch under the original's rule) "
                           "that counts as an improvement"),
    "ckpt_dir": Field((str,), default=DERIVED, help="alpha2w output folder (derived)"),
    "cache_frozen_features": Field((bool,), default=True,
                                   help="(new) compute the frozen trunk once (fast); false: the original's path"),
    "zero_seen_biases": Field((bool,), default=False,
                              help="(new) score the seen classes with their head's biases at zero, as the original's "
                                   "ResNet alpha2w (a new 1x1 conv with zero biases)"),
    "reinit_batchnorm_beta": Field((bool,), default=False,
                                   help="(new) the original's quirk: every batch-norm beta of the restored network "
                                        "re-initialised (to 0)"),
    "unseen_norm_matching": Field((bool,), default=False,
                                  help="(new) score with unseen weights scaled to the mean seen norm and bias"),
    "tuning_grid": Field((dict, type(None)), default=TUNING_GRID,
                         help="(new) a validation run's alpha2w trains one head per setting, learning_rate and "
                              "reg_lambda times these factors, and keeps the one of highest H on its val classes; "
                              "null: the config's values only"),
    "hyperparameters_from": Field((str, list, type(None)), default=None,
                                  help="(new) a validation run (its name, or its alpha2w results.json, or a list of "
                                       "them, pooled) whose selection of learning_rate and reg_lambda alpha2w uses "
                                       "instead of the config's (the baselines too, theirs); null: the config's"),
    "reg_lambda_rule": Field((str,), default="seen_rate", choices=("seen_rate", "validation"),
                             help="(new) a final run with hyperparameters_from: seen_rate steps reg_lambda by half "
                                  "decades from the validation run's choice, bisects the half decade that crosses "
                                  "the target, and keeps the head that sends the validation run's share of "
                                  "held-out seen images to unseen classes at gamma 0 (utils/balance.py); "
                                  "validation: its reg_lambda as chosen"),
    "tuning_seeds": Field((list, type(None)), default=None,
                          help="(new) with a validation run's name in hyperparameters_from or calibration_gamma: pool "
                               "its runs of these seeds (each setting's criterion, and the calibration, averaged over "
                               "them), so that every seed trains and calibrates with one choice; null: the run's own "
                               "seed only"),
    "calibration_rule": Field((str,), default="seen_rate", choices=("seen_rate", "margin"),
                              help="(new) what a validation run's gamma carries over: the share of held-out seen "
                                   "images it sends to unseen classes, or the margin itself (utils/calibration.py)"),
    "calibration_gamma": Field((float, str, list, type(None)), default=None,
                               help="(new) calibrated stacking: a number, a validation run's name (its alpha2w "
                                    "results for this net and modality), its results.json, or a list of them, "
                                    "pooled"),
}

STAGES = {"mod2alpha": MOD2ALPHA, "alpha2w": ALPHA2W}
SCHEMA = {**COMMON, **MOD2ALPHA, **ALPHA2W}


def _optional(field):
    if field.default is not config.REQUIRED:
        return field
    return dataclasses.replace(field, types=field.types + (type(None),), default=None)


def load(path, stage=None):
    """Read and validate an experiment config for `stage` (None: for any stage, as the pipeline reads it) and fill
    in what it derives; check the keys that depend on each other."""
    other = {key for name, keys in STAGES.items() if name != stage for key in keys}
    schema = {key: _optional(field) if key in other else field for key, field in SCHEMA.items()}
    cfg = config.load_config(path, schema)
    resolve(cfg, path)
    if stage == "mod2alpha":
        _check_mod2alpha(cfg, path)
    elif stage == "alpha2w":
        _check_alpha2w(cfg, path)
    return cfg


def resolve(cfg, source):
    """Fill in the network facts and the paths of the output layout that the config leaves out. What the data
    decides (n_attr, n_alphas, n_train_class) is settled by the stage that reads it."""
    config.default(cfg, "layer_name", nets_factory.spec_from_config(cfg, source).alpha_layer)
    seed = None if cfg.random_seed == DEFAULT_SEED else cfg.random_seed
    run, kind = (cfg.dataset, cfg.model_name), (cfg.modality, cfg.caption_format, seed)
    config.default(cfg, "prepared_dir", layout.prepared_dir(cfg.dataset))
    config.default(cfg, "ckpt_path", layout.finetuned_checkpoint(*run))
    config.default(cfg, "alphadir", layout.alphas_dir(*run, cfg.layer_name))
    config.default(cfg, "dom2alpha_ckpt_dir", layout.mod2alpha_dir(*run, *kind))
    config.default(cfg, "ckpt_dir", layout.alpha2w_dir(*run, *kind))
    config.default(cfg, "classattrdir", os.path.join(cfg.prepared_dir, "class_attributes.npy"))
    config.default(cfg, "classattrdir_binary", os.path.join(cfg.prepared_dir, "class_attributes_binary.npy"))
    seeds = cfg.tuning_seeds or [cfg.random_seed]  # several: their runs, pooled
    for key in ("hyperparameters_from", "calibration_gamma"):
        if is_run_name(getattr(cfg, key)):
            paths = [_validation_results(cfg, getattr(cfg, key), seed) for seed in seeds]
            setattr(cfg, key, paths[0] if len(paths) == 1 else paths)


def is_run_name(value):
    return isinstance(value, str) and "/" not in value and not value.endswith(".json")


def _validation_results(cfg, run, seed):
    """The alpha2w results.json of the validation run `run` for this config's net and modality, with `seed`."""
    kind = (cfg.modality, cfg.caption_format, None if seed == DEFAULT_SEED else seed)
    return os.path.join(layout.alpha2w_dir(run, cfg.model_name, *kind), "results.json")


def n_train_class(cfg, n_seen):
    """The seen classes that train mod2alpha: the config's, or all but the original's 5 held out."""
    return config.default(cfg, "n_train_class", n_seen - HELD_OUT_SEEN_CLASSES)


def fallback_checkpoint(cfg):
    """The checkpoint the restore takes ckpt_path's missing variables from: orig_ckpt_path with ckpt "old", else
    none."""
    return cfg.orig_ckpt_path if cfg.ckpt == "old" else None


def _check_alpha2w(cfg, path):
    if cfg.ckpt == "old" and cfg.orig_ckpt_path is None:
        raise UserError(f"{path}: 'ckpt' \"old\" takes the variables that ckpt_path lacks from 'orig_ckpt_path', "
                        "which is null; name the ImageNet checkpoint, or set 'ckpt' to \"new\"")
    if cfg.sampling_mode == "imagenet" and cfg.sampling_images is None:
        raise UserError(f"{path}: 'sampling_mode' imagenet reads 'sampling_images', which is null; give a list of "
                        "probe images or use sampling_mode \"seen\" or \"noise\"")
    if cfg.tuning_seeds is not None and not (cfg.tuning_seeds and all(isinstance(s, int) and not isinstance(s, bool)
                                                                      and s >= 0 for s in cfg.tuning_seeds)):
        raise UserError(f"{path}: 'tuning_seeds' is {cfg.tuning_seeds!r}; give a list of seeds such as "
                        "[1234, 1235, 1236], or null")
    for key in ("hyperparameters_from", "calibration_gamma"):
        value = getattr(cfg, key)
        if isinstance(value, list) and not (value and all(isinstance(p, str) for p in value)):
            raise UserError(f"{path}: '{key}' is {value!r}; give a validation run's name, its results.json, or a "
                            "list of results.json paths")
    grid = cfg.tuning_grid or {}
    for key, factors in grid.items():
        if key not in TUNING_GRID:
            raise UserError(f"{path}: 'tuning_grid' has '{key}'; it tunes {' and '.join(TUNING_GRID)} only")
        if not (isinstance(factors, list) and factors and all(config.is_number(f) and 0 < f < float("inf")
                                                              for f in factors)):
            raise UserError(f"{path}: 'tuning_grid' {key} is {factors!r}; give a list of positive factors such as "
                            f"{TUNING_GRID[key]}")


def _check_mod2alpha(cfg, path):
    needed = {"multilayer": ("n_hidden_1", "n_hidden_2"), "2layer": ("n_hidden",)}.get(cfg.dom2alpha_model, ())
    for key in needed:
        if getattr(cfg, key) is None:
            raise UserError(f"{path}: 'dom2alpha_model' {cfg.dom2alpha_model} needs '{key}'")
    source_key = {"attributes": "classattrdir_binary" if cfg.a2t else "classattrdir"}.get(cfg.modality, "attrdir")
    if getattr(cfg, source_key) is None:
        raise UserError(f"{path}: modality '{cfg.modality}' reads '{source_key}', which is null")
    if cfg.modality == "captions" and cfg.caption_format is None:
        raise UserError(f"{path}: modality 'captions' needs 'caption_format' ({', '.join(CAPTION_FORMATS)})")


def alpha_layer(cfg, spec, source):
    """The alpha layer's end-point name (the original wrote it without the net's scope), checked against the
    alphas that mod2alpha learnt from."""
    layer = cfg.layer_name if cfg.layer_name.startswith(cfg.model_name + "/") else f"{cfg.model_name}/{cfg.layer_name}"
    if cfg.last_layer not in (None, spec.penultimate_layer):
        raise UserError(f"{source}: 'last_layer' of {cfg.model_name} is '{spec.penultimate_layer}' (the features "
                        "its seen head reads); fix or remove the key")
    alphas_json = os.path.join(cfg.alphadir, "alphas.json")
    extracted_at = (fileio.read_json(alphas_json, "alpha_extraction.py", ("layer_name",))["layer_name"]
                    if os.path.isfile(alphas_json) else layer)
    if extracted_at != layer:
        raise UserError(f"{source}: 'layer_name' is {layer} but {alphas_json} holds alphas of {extracted_at}; use "
                        "the layer the alphas were extracted at")
    return layer
