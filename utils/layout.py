"""Where the stages read and write: one output layout keyed by (dataset, net, modality). A config derives every
stage-to-stage path it does not state from here, so the stages of one run find each other's outputs without a path
being written twice. `dataset` is the run's name (SYNTH, SYNTH_val1, CUB_001_050, ...).

Paths are absolute, anchored at the repository root, so a derived config means the same from any working folder
(the seen-pretraining stages run from seen_pretraining/, where the original's relative paths start).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rooted(*parts):
    return os.path.join(ROOT, *parts)


def prepared_dir(dataset):
    """utils/prepare_data.py's out_dir: classes.json, class attributes, the image lists."""
    return _rooted("data", "prepared", dataset)


def prepared_list(dataset, name):
    """One prepared image list: seen_train, seen_val, seen_test, unseen_test."""
    return os.path.join(prepared_dir(dataset), f"{name}.txt")


def pretrained_checkpoint(net):
    """The ImageNet checkpoint finetuning starts from (download.sh checkpoints)."""
    return _rooted("ckpt", f"{net}.ckpt")


def finetune_dir(dataset, net):
    """cnn_finetune.py's save_path."""
    return _rooted("ckpt", dataset, f"{dataset}_{net}_seen_finetune_proposed")


def finetuned_checkpoint(dataset, net):
    """The finetuned seen network the later stages read: the best checkpoint of finetune_dir."""
    return os.path.join(finetune_dir(dataset, net), "best")


def alphas_dir(dataset, net, layer):
    """alpha_extraction.py's save_path for the alphas of `layer` (an end point, with or without the net's scope)."""
    short = layer[len(net) + 1:] if layer.startswith(net + "/") else layer
    return _rooted("alphas", dataset, f"{dataset}_{net}_finetuned_cnn_trainval_alphas_{short.replace('/', '_')}")


def experiment_tag(dataset, net, modality, caption_format=None, seed=None):
    """<dataset>_<net>_<modality>, captions with their format (one folder per kind of domain knowledge), and
    `_seed<N>` for a seed other than the default: the seeds of one experiment (run_pipeline.py --seeds) sit side by
    side, and a final run finds the validation run of its own seed."""
    kind = f"{modality}_{caption_format}" if modality == "captions" and caption_format else modality
    return f"{dataset}_{net}_{kind}" + ("" if seed is None else f"_seed{seed}")


def mod2alpha_dir(dataset, net, modality, caption_format=None, seed=None):
    """mod2alpha.py's output folder (dom2alpha_ckpt_dir)."""
    return _rooted("ckpt", "mod2alpha", experiment_tag(dataset, net, modality, caption_format, seed))


def alpha2w_dir(dataset, net, modality, caption_format=None, seed=None):
    """alpha2w.py's output folder (ckpt_dir); explain.py writes its explanations/ inside."""
    return _rooted("ckpt", "alpha2w", experiment_tag(dataset, net, modality, caption_format, seed))
