"""The configs of the seen-pretraining stages, cnn_finetune.py and alpha_extraction.py
(`seen_pretraining/arg_configs/{seen_finetune,alpha_extract}/`): schemas with the original release's keys, and what a
config may leave out.

With the (new) key `dataset` (the run's name), the prepared lists, the checkpoints and the output folder follow the
output layout (utils/layout.py); without it the config names them, in the original's style (paths relative to
seen_pretraining/). Network facts come from `model_name` (utils/nets_factory.py); `num_classes` from the prepared
split (a stated value must agree). The other defaults are the original's VGG-16 values.
"""
from utils import class_order, config, devices, layout, nets_factory
from utils.cli import UserError
from utils.config import AT_LEAST_ONE, DERIVED, NON_NEGATIVE, POSITIVE, Field, Range

DISTRIBUTE = Field((str,), default="one_device", choices=devices.STRATEGIES,
                   help="(new) one device, every local GPU (mirrored), or the machines of TF_CONFIG "
                        "(multi_worker_mirrored); batch_size is the global batch (utils/devices.py)")
DATASET = Field((str, type(None)), default=None,
                help="(new) the run's name (e.g. SYNTH, CUB): the stage's paths follow the output layout")

FINETUNE = {
    "dataset": DATASET,
    "train_split_json": Field((str,), default=DERIVED, help="prepared seen_train list"),
    "val_split_json": Field((str,), default=DERIVED, help="prepared seen_val list"),
    "test_split_json": Field((str,), default=DERIVED, help="prepared seen_test list"),
    **nets_factory.MODEL_FIELDS,
    "layer_name": Field((str,), default=DERIVED,
                        help="the logits layer re-initialised for the seen classes, e.g. fc8 (the net's)"),
    "num_classes": Field((int,), default=DERIVED, valid=AT_LEAST_ONE, help="seen classes (from the split lists)"),
    "batch_size": Field((int,), valid=AT_LEAST_ONE),
    "num_workers": Field((int,), default=2, valid=AT_LEAST_ONE),
    "wt_dec": Field((float, str), default=5e-4, valid=NON_NEGATIVE),
    "dropout": Field((float,), default=0.5, valid=Range(0, 1, low_open=True),
                     help="keep probability of the net's dropout layers (none in resnet_v1)"),
    "ckpt_path": Field((str, type(None)), default=DERIVED,
                       help="pretrained checkpoint restored without the logits scope (default ckpt/<net>.ckpt)"),
    "train_from_scratch": Field((bool,), default=False, help="allowed only when said explicitly"),
    "lr_fc": Field((float, str), default=1e-3, valid=POSITIVE),
    "lr_full": Field((float, str), default=1e-5, valid=POSITIVE),
    "save_path": Field((str,), default=DERIVED, help="output folder"),
    "finetune_whole_cnn": Field((bool,), default=True),
    "cache_fc_features": Field((bool,), default=True,
                               help="(new) the logits-only phase trains on penultimate features computed once (the "
                                    "same model and loss); false: the frozen trunk runs at every step"),
    "fc_feature_views": Field((int,), default=1, valid=AT_LEAST_ONE,
                              help="(new) cached views per training image: 1 = its eval view (no augmentation), "
                                   "K > 1 = K augmented views, one per epoch in turn"),
    "best_of_last_phase": Field((bool,), default=False,
                                help="(new) as the original: phase 2 restarts the seen-val monitor and keeps its own "
                                     "best, which later stages read even where phase 1's was better; false: the best "
                                     "over both phases"),
    "fc_phase_is_training": Field((bool,), default=False,
                                  help="(new) phase 1 runs the network in training mode (dropout on, batch norm on "
                                       "batch statistics) as the original; needs cache_fc_features false"),
    "wt_dec_all_variables": Field((bool,), default=False,
                                  help="(new) the original's weight decay: wt_dec x l2 of every trainable variable "
                                       "(biases and batch norm too), in the loss and in the early-stopping val loss; "
                                       "false: slim's, on the trained layers' weights"),
    "clip_gradient_norm": Field((float, type(None)), default=None, valid=POSITIVE,
                                help="(new) clip the gradients to this global norm (the original's VGG path: 4)"),
    "reinit_batchnorm_beta": Field((bool,), default=False,
                                   help="(new) the original's quirk: every batch-norm beta re-initialised (to 0) "
                                        "after each restore"),
    "distribute": DISTRIBUTE,
    "estop_fc": Field((int,), default=3, valid=AT_LEAST_ONE),
    "estop_full": Field((int,), default=10, valid=AT_LEAST_ONE),
    "num_epochs_fc": Field((int,), default=200, valid=NON_NEGATIVE),
    "num_epochs_full": Field((int,), default=400, valid=NON_NEGATIVE),
    "random_seed": Field((int,), default=123, valid=NON_NEGATIVE),
}

ALPHA_EXTRACT = {
    "dataset": DATASET,
    "random_seed": Field((int,), default=123, valid=NON_NEGATIVE),
    "num_classes": Field((int,), default=DERIVED, valid=AT_LEAST_ONE,
                         help="seen classes of the finetuned network (from class_idmaps_json)"),
    "class_list_f": Field((str, type(None)), default=None,
                          help="the dataset's classes.txt; its names must agree with class_idmaps_json"),
    "class_idmaps_json": Field((str,), default=DERIVED,
                               help="the prepared classes.json: seen class index -> original class id"),
    "dataset_json": Field((str, list), default=DERIVED,
                          help="prepared lists, comma-separated: seen_train.txt,seen_val.txt"),
    **nets_factory.MODEL_FIELDS,
    "batch_size": Field((int,), default=64, valid=AT_LEAST_ONE),
    "num_workers": Field((int,), default=2, valid=AT_LEAST_ONE),
    "bypass_name": Field((str, type(None)), default="None", help="\"None\" or gradient bypasses, see docs/alphas.md"),
    "orig_ckpt_path": Field((str, type(None)), default=None,
                            help="the ImageNet checkpoint the finetuned one started from (recorded in alphas.json)"),
    "ckpt_path": Field((str,), default=DERIVED,
                       help="finetuned checkpoint: a prefix, or a folder such as <save_path>/best"),
    "seen_class_order": class_order.SEEN_CLASS_ORDER,
    "layer_name": Field((str,), default=DERIVED,
                        help="end point whose importances are extracted, e.g. vgg_16/conv5/conv5_3 (the net's)"),
    "save_path": Field((str,), default=DERIVED, help="output folder"),
    "distribute": DISTRIBUTE,
    "n_gradcam": Field((int,), default=50, valid=NON_NEGATIVE, help="Grad-CAM overlays saved for the first n images"),
}


def _layout_default(cfg, key, derive, source):
    """A path the config leaves out: from the layout of its `dataset`, which it then must name."""
    if getattr(cfg, key) is not DERIVED:
        return
    if cfg.dataset is None:
        raise UserError(f"{source}: missing '{key}'; give it, or 'dataset' (the run's name) to follow the output "
                        "layout")
    setattr(cfg, key, derive(cfg.dataset))


def load_finetune(path):
    """A cnn_finetune.py config with its network facts and layout paths filled in (num_classes: settle_classes)."""
    cfg = config.load_config(path, FINETUNE)
    spec = nets_factory.spec_from_config(cfg, path)
    config.settle(cfg, "layer_name", spec.logits_scope.split("/")[-1], path, f"model_name {cfg.model_name}")
    for key, name in (("train_split_json", "seen_train"), ("val_split_json", "seen_val"),
                      ("test_split_json", "seen_test")):
        _layout_default(cfg, key, lambda dataset: layout.prepared_list(dataset, name), path)
    _layout_default(cfg, "save_path", lambda dataset: layout.finetune_dir(dataset, cfg.model_name), path)
    config.default(cfg, "ckpt_path", None if cfg.train_from_scratch else layout.pretrained_checkpoint(cfg.model_name))
    return cfg


def load_alpha_extract(path):
    """An alpha_extraction.py config with its network facts and layout paths filled in (num_classes: settle)."""
    cfg = config.load_config(path, ALPHA_EXTRACT)
    spec = nets_factory.spec_from_config(cfg, path)
    config.default(cfg, "layer_name", spec.alpha_layer)
    _layout_default(cfg, "class_idmaps_json", lambda dataset: f"{layout.prepared_dir(dataset)}/classes.json", path)
    _layout_default(cfg, "dataset_json", lambda dataset: ",".join(
        layout.prepared_list(dataset, name) for name in ("seen_train", "seen_val")), path)
    _layout_default(cfg, "ckpt_path", lambda dataset: layout.finetuned_checkpoint(dataset, cfg.model_name), path)
    _layout_default(cfg, "save_path", lambda dataset: layout.alphas_dir(dataset, cfg.model_name, cfg.layer_name), path)
    return cfg
