"""The original release's configs, converted to ours: `python -m utils.original_config <original.json> [--out ours.json]
[--dataset NAME]`.

`--faithful` also sets every switch that restores a behaviour of the original's code where our default differs, each
printed with why; keys the original's code reads but its own config lacks are reported (the original could not run that
config). Accepts the original's six experiment configs (arg_configs/{vgg16,resnet}_config_{AWA2,CUB}[_captions].json)
and its eight seen-pretraining configs (finetune: `lr_fc`; alpha extraction: `dataset_json`). Values the original wrote
as strings ("50", "1e-3", "True") become numbers and booleans where our schema has them, and are then validated as any
config is. Every key is reported on one line: kept (the same meaning here), replaced (a path of the original's data.zip
layout, which becomes the prepared file of the config's dataset, derived by utils/layout.py) or ignored (with the
reason). The result is checked by the loaders of every stage it drives before it is written."""
import argparse
import json
import os
import re
import sys
import tempfile

from utils import config, experiment, fileio, seen_configs
from utils.cli import UserError, main_guard

LAYOUT = "a path of the original's data.zip layout"
NO_COUNTERPART = "no counterpart in this implementation"
LISTS = "the preparation (utils/prepare_data.py) makes the image lists and class splits; prepared_dir replaces it"

# key -> why it is not used, for keys of the original with no use here
IGNORED = {
    "act_layer_name": "a name in the original's output paths; utils/layout.py names every folder",
    "alpha_layer_name": "a name in the original's output paths; utils/layout.py names every folder",
    "alpha_model_name": "a name in the original's output paths; utils/layout.py names every folder",
    "attributesf": "attribute names come from the prepared split",
    "base_model": "model_name names the network",
    "ckpt": "alpha2w's restore variant: experiment configs keep it ('old': the variables the finetuned checkpoint "
            "lacks come from orig_ckpt_path); the seen-pretraining stages read one checkpoint by variable name",
    "ckpt_list_path": "a folder of the original's checkpoints to choose from; ckpt_path names the one used",
    **{f"c{i}_mean": "the original's VGG finetuning never calls preprocess_fn: it resizes plainly to 224x224 and "
                     "subtracts these means, which are slim's (123.68, 116.78, 103.94); preprocess_fn "
                     "vgg_plain_resize does the same (--faithful sets it)" for i in (1, 2, 3)},
    "class_listf": LISTS, "imagedir": LISTS, "imagelist": LISTS, "imagelabellist": LISTS,
    "train_test_split_list": LISTS, "seen_test_split_file": LISTS,
    "split_file": LISTS + "; its train_cid also orders the seen logits of the original's released networks: to "
                  "evaluate those, set 'seen_class_order' to this file",
    "unseen_test_split_file": LISTS, "cub_predef_split": LISTS,
    "dropout": "alpha2w runs the network in inference mode, where dropout does nothing (as in the original)",
    "estop1": NO_COUNTERPART, "estop2": NO_COUNTERPART, "n_mask": NO_COUNTERPART, "zero_cen": NO_COUNTERPART,
    "removerelu": NO_COUNTERPART + " (the original's configs set it to None)",
    "map": "\"t2a\" (domain knowledge -> alphas) is the only direction",
    "n_class": "counted from the prepared split", "n_seen": "counted from the prepared split",
    "n_unseen": "counted from the prepared split", "n_seen_train": "counted from the prepared split",
    "orig_ckpt_path": "the ImageNet checkpoint; the stage reads the finetuned network (ckpt_path, derived)",
    "penultimate_seen_weights": "the seen head's variables are found under the net's logits scope",
    "save_path": "the original's log folder; outputs go to ckpt_dir (derived)",  # experiment configs
    "summaries_dir": "the original's log folder; outputs go to ckpt_dir (derived)",
    "test_prop": "a proportion of the original's own splits; the preparation's seen_val_fraction sets seen-val",
    "train_prop": "a proportion of the original's own splits; the preparation's seen_val_fraction sets seen-val",
    "val_prop": "a proportion of the original's own splits; the preparation's seen_val_fraction sets seen-val",
    "text2alpha_ckpt": "the original's released map, as its alpha2w read it: here mod2alpha trains its own unless "
                       "'text2alpha_ckpt' is set (then it predicts with the released map); set it by hand to use one",
    "verbose": "printing only",
    "weight_decay": "mod2alpha and alpha2w use no weight decay",
    "wt_dec": "mod2alpha and alpha2w use no weight decay",  # experiment configs (finetune configs keep it)
}
# paths of the data.zip layout that the output layout derives from the dataset, per stage
REPLACED = {
    "experiment": ("classattrdir", "classattrdir_binary", "alphadir", "dom2alpha_ckpt_dir", "ckpt_path", "ckpt_dir"),
    "finetune": ("train_split_json", "val_split_json", "test_split_json", "ckpt_path", "save_path"),
    "alpha_extract": ("class_list_f", "class_idmaps_json", "dataset_json", "ckpt_path", "save_path"),
}
# the original's own seen train / val split files: the preparation reads them, where a user has them
OWN_SEEN_SPLIT = {("finetune", key): "; to finetune on the original's own seen train / val images, name its train and "
                  "val split files in 'original_seen_split_jsons' of the preparation config"
                  for key in ("train_split_json", "val_split_json")}
SCHEMAS = {"experiment": experiment.SCHEMA, "finetune": seen_configs.FINETUNE,
           "alpha_extract": seen_configs.ALPHA_EXTRACT}
PLAIN_RESIZE = "vgg_plain_resize"  # utils/preprocessing.py: the original's `prepro` "old" / "new" paths
# --faithful: (stage, the nets it applies to or None for all, key, value, why): every switch that restores a
# behaviour of the original's code where our default differs (docs/deviations.md)
FAITHFUL = (
    ("finetune", None, "fc_phase_is_training", True, "phase 1 runs the net in training mode and its update ops"),
    ("finetune", None, "cache_fc_features", False, "phase 1 in training mode runs the trunk at every step"),
    ("finetune", None, "wt_dec_all_variables", True, "weight decay on every trainable variable, in the val loss too"),
    ("finetune", None, "best_of_last_phase", True, "later stages read phase 2's own best checkpoint"),
    ("finetune", ("vgg_16",), "clip_gradient_norm", 4.0, "the VGG path clips gradients to global norm 4"),
    ("finetune", ("vgg_16",), "preprocess_fn", PLAIN_RESIZE, "the VGG path resizes plainly and subtracts the means"),
    ("finetune", ("resnet_v1_101",), "reinit_batchnorm_beta", True, "last_init re-initialises every 'beta'"),
    ("experiment", None, "zsl_loss_estop_rule", "iteration", "alpha2w stops on the per-iteration plateau rule"),
    ("experiment", None, "examples_per_class", "test_counts", "one example per unseen test image label"),
    ("experiment", None, "class_level_loss", False, "mod2alpha's cosine loss per image over minibatches"),
    ("experiment", None, "refit_all_seen", False, "mod2alpha keeps the map trained on n_train_class seen classes"),
    ("experiment", None, "class_alphas_from", "trained", "alpha2w reads the alphas of mod2alpha's trained map"),
    ("experiment", None, "tuning_grid", None, "the config's learning rate and regulariser, no tuning"),
    ("experiment", ("resnet_v1_101",), "zero_seen_biases", True, "the seen logits are a new 1x1 conv, zero biases"),
    ("experiment", ("resnet_v1_101",), "reinit_batchnorm_beta", True, "alpha2w re-initialises every 'beta' too"),
)
# what the original's code uses whatever its config says, and keys it reads that some of its own configs lack
SEEDS_IN_CODE = {"experiment": "the original's alpha2w fixes its seed at 1111 and mod2alpha at 1234 in the code, "
                               "whatever random_seed says; the converted config uses random_seed"}
READ_BY_THE_ORIGINAL = {  # stage -> (nets or None, keys the original reads)
    "finetune": (("vgg_16",), ("c1_mean", "c2_mean", "c3_mean")),
    "experiment": (None, ("n_train_class", "dom2alpha_lambda_reg")),
}
REED_CAPTIONS = "data/CUB/text_c10,data/CUB/w2v_c10"  # where the original's mod2alpha/alpha2w read Reed's captions


def stage_of(raw):
    if "lr_fc" in raw:
        return "finetune"
    if "dataset_json" in raw:
        return "alpha_extract"
    return "experiment"


def dataset_of(raw, given, source):
    """The dataset a config is for: --dataset, its `dataset` key, or the data/<NAME>/ folder its paths name."""
    if given or raw.get("dataset"):
        return given or raw["dataset"]
    names = {m.group(1) for value in raw.values() if isinstance(value, str)
             for m in re.finditer(r"data/(AWA2|CUB|AWA1|SUN)/", value)}
    if len(names) != 1:
        raise UserError(f"{source}: cannot tell its dataset from its paths ({sorted(names) or 'none'}); pass "
                        "--dataset AWA2 or CUB")
    return names.pop()


BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def typed(value, field, key, source):
    """A value of the original (often a string) as the type our schema gives the key: None, a boolean, an integer,
    a number, or the text itself, the first that fits."""
    if not isinstance(value, str):
        return value
    if value in ("None", "null") and type(None) in field.types:
        return None
    if bool in field.types and value.lower() in BOOLEANS:
        return BOOLEANS[value.lower()]
    for kind in (int, float):
        if kind in field.types:
            try:
                return kind(value)
            except ValueError:
                pass
    if str in field.types:
        return value
    raise UserError(f"{source}: key '{key}' is {json.dumps(value)}, which is not {field.types[0].__name__}; fix the "
                    "value in the original config")


def convert(raw, source, dataset=None):
    """(stage, our config, one note per key of the original: (verdict, key, original value, reason))."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: not a JSON object of key: value pairs")
    stage = stage_of(raw)
    schema, replaced = SCHEMAS[stage], REPLACED[stage]
    ours, notes = {"dataset": dataset_of(raw, dataset, source)}, []
    for key, value in raw.items():
        if key in replaced:
            notes.append(("replaced", key, value, None))  # its reason names the derived path, once resolved
        elif key == "prepro":
            if value == "unified":
                notes.append(("ignored", key, value, "\"unified\" is the net's own slim preprocessing, which "
                              "preprocess_fn names and which is the default here"))
            else:  # the plain resize of the "old" / "new" paths
                ours["preprocess_fn"] = PLAIN_RESIZE
                notes.append(("replaced", key, value, f"the original's plain 224x224 resize: preprocess_fn "
                              f"{PLAIN_RESIZE}"))
        elif key == "attrdir" and stage == "experiment" and raw.get("modality") == "captions":
            ours.update(caption_format="reed_w2v", attrdir=REED_CAPTIONS)
            notes.append(("replaced", key, value, f"the original reads Reed et al.'s CUB captions and their "
                          f"word2vec features from {REED_CAPTIONS} whatever it says; so does the converted config "
                          "(caption_format reed_w2v; the shipped captions configs use the xlsa17 sentence embeddings "
                          "instead)"))
        elif key == "text2alpha_ckpt":  # a schema key, but a converted config trains its own map
            notes.append(("ignored", key, value, IGNORED[key]))
        elif key in schema:
            if key == "preprocess_fn" and raw.get("prepro") in ("old", "new"):
                notes.append(("replaced", key, value, f"by prepro {raw['prepro']}: {PLAIN_RESIZE}"))
                continue
            ours[key] = typed(value, schema[key], key, source)
            vgg_finetune = key == "preprocess_fn" and stage == "finetune" and raw.get("model_name") == "vgg_16"
            notes.append(("kept", key, value, "the original's VGG finetuning never calls it (see c1_mean); "
                          "--faithful sets vgg_plain_resize" if vgg_finetune else None))
        elif key in IGNORED:
            notes.append(("ignored", key, value, IGNORED[key]))
        else:
            raise UserError(f"{source}: key '{key}' is not a key of the original release's configs; remove it or "
                            "convert by hand")
    return stage, ours, notes


def faithful(stage, ours):
    """Set every switch that restores the original's behaviour for this config's stage and net (FAITHFUL); one note
    per key: ("faithful", key, value, why)."""
    notes = []
    for where, nets, key, value, why in FAITHFUL:
        if where == stage and (nets is None or ours.get("model_name") in nets):
            ours[key] = value
            notes.append(("faithful", key, value, why))
    return notes


def not_runnable(stage, raw):
    """Notes on keys the original's own code reads that this config of it lacks: the original could not run it."""
    nets, keys = READ_BY_THE_ORIGINAL.get(stage, (None, ()))
    if nets is not None and raw.get("model_name") not in nets:
        return []
    return [("missing", key, None, "the original's code reads it and this config lacks it, so the original itself "
             "cannot run this config; here it is derived or defaults") for key in keys if key not in raw]


def validated(stage, ours, source):
    """Load the converted config with the loader of every stage it drives (as a file: the loaders read files);
    returns the resolved config (its derived paths)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, os.path.basename(source))
        with open(path, "w") as f:
            json.dump(ours, f)
        try:
            if stage == "finetune":
                return seen_configs.load_finetune(path)
            if stage == "alpha_extract":
                return seen_configs.load_alpha_extract(path)
            return [experiment.load(path, name) for name in experiment.STAGES][-1]
        except UserError as err:
            raise UserError(f"{source}: converted, but {str(err).replace(path, 'the result')}") from None


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original", help="a config of the original release")
    parser.add_argument("--out", help="where to write ours (default: print it)")
    parser.add_argument("--dataset", help="the prepared dataset it runs on (default: its 'dataset' key or the "
                                          "data/<NAME>/ folder its paths name)")
    parser.add_argument("--faithful", action="store_true", help="also set every switch that restores a behaviour "
                        "of the original's code where ours differs (each is printed with why)")
    args = parser.parse_args(argv)
    raw = config.read_json_config(args.original) if os.path.isfile(args.original) else None
    if raw is None:
        raise UserError(f"{args.original}: file not found; give the path of one of the original release's configs")
    stage, ours, notes = convert(raw, args.original, args.dataset)
    notes += not_runnable(stage, raw) + (faithful(stage, ours) if args.faithful else [])
    resolved = vars(validated(stage, ours, args.original))
    print(f"{args.original}: the original's {stage} config, {len(raw)} keys", file=sys.stderr)
    if stage in SEEDS_IN_CODE:
        print(f"  seed      {SEEDS_IN_CODE[stage]}", file=sys.stderr)
    for verdict, key, value, reason in notes:
        if verdict == "replaced" and reason is None:  # the prepared file (or layout folder) that takes its place
            reason = f"{LAYOUT}; now {resolved[key]}" + OWN_SEEN_SPLIT.get((stage, key), "")
        shown = f"{verdict:8s}  {key} {json.dumps(value)}" + (f": {reason}" if reason else "")
        print(f"  {shown}", file=sys.stderr)
    text = json.dumps(ours, indent=2) + "\n"
    if args.out:
        fileio.write_text(args.out, text)
        print(f"wrote {args.out} ({stage} config for {ours['dataset']})", file=sys.stderr)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
