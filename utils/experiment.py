"""The NIWT experiment config: one JSON per dataset x network x modality (`arg_configs/<net>_config_<DATASET>.json`),
read by mod2alpha.py and alpha2w.py, as in the original release. Paths are relative to the repository root.

Keys keep the original's names and meanings; new keys are marked "(new)".
"""
from utils import config
from utils.cli import UserError
from utils.config import Field

MODALITIES = ("attributes", "captions", "wikipedia")
CAPTION_FORMATS = ("reed_w2v", "sent_mat", "text")

SCHEMA = {
    "dataset": Field((str,), help="dataset name, e.g. CUB (used in messages and outputs)"),
    "prepared_dir": Field((str,), help="(new) the prepared folder: classes.json, class attributes, image lists"),
    "random_seed": Field((int,)),
    # mod2alpha: domain knowledge -> alphas
    "modality": Field((str,), choices=MODALITIES),
    "supervision": Field((str,), choices=("class",), help="domain vectors are per class"),
    "classattrdir": Field((str, type(None)), default=None,
                          help="continuous class attributes: the prepared class_attributes.npy or the official .txt"),
    "classattrdir_binary": Field((str, type(None)), default=None, help="binary class attributes (.npy or .txt)"),
    "a2t": Field((bool,), default=False, help="use classattrdir_binary instead of classattrdir"),
    "attrdir": Field((str, type(None)), default=None,
                     help="captions / wikipedia source: see caption_format; wikipedia: a .mat with PredicateMatrix"),
    "caption_format": Field((str, type(None)), default=None, choices=CAPTION_FORMATS + (None,),
                            help="(new) captions: reed_w2v (attrdir 'text_c10,w2v_c10'), sent_mat (xlsa17 .mat), "
                                 "text (TF-IDF of text files)"),
    "n_attr": Field((int,), help="length of the domain vectors"),
    "n_alphas": Field((int,), help="channels of the alpha layer"),
    "alphadir": Field((str,), help="alpha_extraction.py's save_path"),
    "n_train_class": Field((int,), help="seen classes that train the map; the other seen classes validate it"),
    "dom2alpha_model": Field((str,), choices=("linear", "multilayer", "2layer")),
    "n_hidden_1": Field((int, type(None)), default=None, help="multilayer: first hidden layer"),
    "n_hidden_2": Field((int, type(None)), default=None, help="multilayer: second hidden layer"),
    "n_hidden": Field((int, type(None)), default=None, help="2layer: hidden layer"),
    "alpha_loss_type": Field((str,), choices=("cd", "l1", "cdandl1")),
    "cdl1_reg": Field((float,), default=1.0, help="cdandl1: weight of the cosine term"),
    "dom2alpha_lambda_reg": Field((float,), default=0.0, help="weight of |l2(pred) - l2(alphas)| per batch"),
    "learning_rate": Field((float,)),
    "dom2alpha_batch_size": Field((int,)),
    "num_epochs": Field((int,)),
    "class_level_loss": Field((bool,), default=True,
                              help="(new) cd loss evaluated exactly with one term per class; false: per image"),
    "ridge_lambda": Field((float, str), default="-3,4",
                          help="(new) closed-form ridge baseline: a number or a log10 range chosen on val classes"),
    "dom2alpha_ckpt_dir": Field((str,), help="mod2alpha output folder: best checkpoint and class alphas"),
}


def load(path):
    """Read and validate an experiment config; check the keys that depend on each other."""
    cfg = config.load_config(path, SCHEMA)
    needed = {"multilayer": ("n_hidden_1", "n_hidden_2"), "2layer": ("n_hidden",)}.get(cfg.dom2alpha_model, ())
    for key in needed:
        if getattr(cfg, key) is None:
            raise UserError(f"{path}: 'dom2alpha_model' {cfg.dom2alpha_model} needs '{key}'")
    source_key = {"attributes": "classattrdir_binary" if cfg.a2t else "classattrdir"}.get(cfg.modality, "attrdir")
    if getattr(cfg, source_key) is None:
        raise UserError(f"{path}: modality '{cfg.modality}' reads '{source_key}', which is null")
    if cfg.modality == "captions" and cfg.caption_format is None:
        raise UserError(f"{path}: modality 'captions' needs 'caption_format' ({', '.join(CAPTION_FORMATS)})")
    return cfg
