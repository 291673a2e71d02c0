"""The original release's configs convert to ours (utils/original_config.py): string numbers typed, every key kept,
replaced by a prepared file, or ignored with a reason, and the result valid for every stage it drives. The configs
below have exactly the original's key sets and string values: five written out here, the other nine of its 14 in
original_configs.json beside this file."""
import json
import os

import pytest

from helpers import last_error_line, run_script
from utils import experiment, original_config, seen_configs

VGG16_AWA2 = {
    "unseen_test_split_file": "./data/AWA2/AWA2_proposed_unseen_test_split.json",
    "seen_test_split_file": "./data/AWA2/AWA2_proposed_seen_test_split.json",
    "split_file": "./data/AWA2/proposed_split.mat",
    "classattrdir": "./data/AWA2/class_attribute_labels_continuous.txt",
    "classattrdir_binary": "./data/AWA2/class_attribute_labels_binary.txt", "class_listf": "./data/AWA2/classes.txt",
    "attributesf": "./data/AWA2/predicates.txt", "imagedir": "./data/AWA2/images/",
    "imagelist": "./data/AWA2/images.txt",
    "imagelabellist": "./data/AWA2/image_class_labels.txt", "train_test_split_list": "./data/AWA2/train_test_split.txt",
    "alpha_layer_name": "conv5_3", "alpha_model_name": "vgg16", "dataset": "AWA2",
    "alphadir": "./alphas/{}/{}_{}_finetuned_train_{}_cnn_trainval_alphas_{}/",
    "dom2alpha_ckpt_dir": "./ckpt/mod2alpha/",
    "n_seen_train": "40", "dom2alpha_lambda_reg": "0", "preprocess_fn": "vgg_preprocessing", "model_class": "vgg",
    "model_name": "vgg_16", "ckpt_path": "./ckpt/AWA2/AWA2_vgg_16_cnn_seen_finetune_proposed/ckpt-11358",
    "text2alpha_ckpt": "./ckpt/AWA2/mod_attributes_mod2alpha.ckpt", "dropout": "0.5", "unseen_w_init": "seen_centered",
    "random_seed": "123", "save_path": "vgg_16_awa2/ckpt", "zsl_loss_estop_window": "40", "eps_perc": "0.01",
    "scope": "vgg_arg_scope", "image_size": "224", "batch_size": "64", "dom2alpha_batch_size": "64",
    "num_workers": "32",
    "n_seen": "40", "n_unseen": "10", "n_attr": "85", "num_epochs": "300", "alpha_loss_type": "cd",
    "supervision": "class",
    "modality": "attributes", "sampling_mode": "imagenet", "sampling_images": "./data/imagenet_files.pkl",
    "n_alphas": "512", "n_class": "50", "learning_rate": "1e-3", "reg_lambda": "1e-3", "reg_loss": "dimn_wise_l2",
    "optimizer": "adam", "dom2alpha_model": "linear", "layer_name": "conv5/conv5_3", "last_layer": "vgg_16/fc7",
    "ckpt_dir": "./ckpt/alpha2w_ckpt/", "prepro": "old", "base_model": "vgg_16"}
RESNET_CUB_CAPTIONS = {
    "unseen_test_split_file": "./data/CUB/CUB_200_2011_proposed_unseen_test_split.json",
    "seen_test_split_file": "./data/CUB/CUB_200_2011_proposed_seen_test_split.json",
    "split_file": "./data/CUB/proposed_split.mat", "class_listf": "./data/CUB/classes.txt",
    "imagedir": "./data/CUB/images/",
    "imagelist": "./data/CUB/images.txt", "imagelabellist": "./data/CUB/image_class_labels.txt",
    "cub_predef_split": "./data/CUB/att_splits.mat", "classattrdir": "./data/CUB/class_attribute_labels_continuous.txt",
    "attrdir": "./data/CUB/image_attribute_labels.txt", "train_test_split_list": "./data/CUB/train_test_split.txt",
    "dataset": "CUB", "alpha_layer_name": "block4_unit1",
    "alphadir": "./ckpt/alphas/{}/{}_{}_finetuned_whole_train_{}_cnn_trainval_alphas_{}/", "dom2alpha_lambda_reg": "0",
    "dom2alpha_batch_size": "64", "n_train_class": "145", "n_seen_train": "150", "alpha_model_name": "resnet_v1_101",
    "dom2alpha_ckpt_dir": "./ckpt/mod2alpha/", "map": "t2a", "batch_size": "64", "num_workers": "16", "n_seen": "150",
    "n_unseen": "50", "n_attr": "400", "num_epochs": "500", "alpha_loss_type": "cd", "supervision": "class",
    "modality": "captions", "zero_cen": "1", "sampling_mode": "imagenet",
    "sampling_images": "./data/imagenet_files.pkl",
    "n_mask": "20", "n_alphas": "2048", "n_class": "200", "unseen_w_init": "seen_centered", "learning_rate": "1e-4",
    "reg_lambda": "1e-2", "optimizer": "adam", "verbose": "False", "reg_loss": "dimn_wise_l2",
    "model_class": "resnet_v1",
    "model_name": "resnet_v1_101", "dom2alpha_model": "linear", "zsl_loss_estop_window": "40", "eps_perc": "0.01",
    "removerelu": "None", "ckpt_path": "./ckpt/CUB/CUB_resnet_cnn_seen_finetune_proposed/ckpt-20665", "ckpt": "new",
    "orig_ckpt_path": "./ckpt/resnet_v1_101.ckpt", "text2alpha_ckpt": "./ckpt/CUB/mod_captions_2alpha.ckpt",
    "ckpt_dir": "./ckpt/alpha2w_ckpt/", "preprocess_fn": "vgg_preprocessing", "prepro": "new", "image_size": "224",
    "penultimate_seen_weights": "resnet_v1_101/logits/weights:0", "layer_name": "block4/unit_1/bottleneck_v1",
    "last_layer": "resnet_v1_101/block4", "dropout": "0.5", "random_seed": "1234", "save_path": "resnet/ckpt",
    "scope": "resnet_arg_scope", "base_model": "resnet"}
CUB_VGG16_FINETUNE = {
    "train_split_json": "../data/CUB/CUB_200_2011_proposed_seen_train_split.json",
    "val_split_json": "../data/CUB/CUB_200_2011_proposed_seen_val_split.json",
    "test_split_json": "../data/CUB/CUB_200_2011_proposed_seen_test_split.json", "model_class": "vgg",
    "model_name": "vgg_16", "image_size": "224", "layer_name": "fc8", "num_classes": "150",
    "preprocess_fn": "vgg_preprocessing", "num_workers": "10", "batch_size": "64", "scope": "vgg_arg_scope",
    "dropout": "0.5", "c1_mean": "123.68", "c2_mean": "116.78", "c3_mean": "103.94", "ckpt_path": "../ckpt/vgg_16.ckpt",
    "lr_fc": "1e-3", "lr_full": "1e-5", "wt_dec": "5e-4",
    "save_path": "../ckpt/CUB/CUB_vgg16_cnn_seen_finetune_proposed/", "finetune_whole_cnn": "1", "estop_fc": "3",
    "estop_full": "10", "num_epochs_fc": "200", "num_epochs_full": "400", "random_seed": "123"}
AWA2_RESNET_FINETUNE_HSEARCH = {
    "train_split_json": "../data/AWA2/AWA2_proposed_seen_train_split.json",
    "val_split_json": "../data/AWA2/AWA2_proposed_seen_val_split.json",
    "test_split_json": "../data/AWA2/AWA2_proposed_seen_test_split.json", "model_class": "resnet_v1",
    "model_name": "resnet_v1_101", "image_size": "224", "layer_name": "logits", "num_classes": "40",
    "preprocess_fn": "vgg_preprocessing", "num_workers": "10", "batch_size": "33", "scope": "resnet_arg_scope",
    "wt_dec": "-5,-4", "ckpt_path": "../ckpt/resnet_v1_101.ckpt", "lr_fc": "-4,-2", "lr_full": "-7,-5",
    "save_path": "../ckpt/AWA2/AWA2_resnet_cnn_seen_finetune_proposed/", "finetune_whole_cnn": "0", "dropout": "0.5",
    "estop_fc": "10", "estop_full": "10", "num_epochs_fc": "600", "num_epochs_full": "600", "random_seed": "123"}
AWA2_RESNET_ALPHA_EXTRACT = {
    "random_seed": "123", "num_classes": "40", "class_list_f": "../data/AWA2/classes.txt",
    "class_idmaps_json": "../data/AWA2/AWA2_proposed_seen_idmaps.json",
    "dataset_json": "../data/AWA2/AWA2_proposed_seen_train_split.json,../data/AWA2/AWA2_proposed_seen_val_split.json",
    "preprocess_fn": "vgg_preprocessing", "model_class": "resnet_v1", "model_name": "resnet_v1_101",
    "image_size": "224",
    "num_workers": "10", "batch_size": "64", "scope": "resnet_arg_scope", "bypass_name": "None",
    "orig_ckpt_path": "../ckpt/resnet_v1_101.ckpt",
    "ckpt_path": "../ckpt/AWA2/AWA2_resnet_cnn_seen_finetune_proposed/ckpt-1",
    "ckpt_list_path": "../ckpt/AWA/AWA2_resnet_v1_101_cnn_seen_finetune_proposed/",
    "layer_name": "resnet_v1_101/block4/unit_1/bottleneck_v1",
    "save_path": "../alphas/AWA2/AWA2_resnet_finetuned_whole_train_40_cnn_trainval_alphas_block4_unit1"}
ORIGINALS = {"vgg16_config_AWA2": (VGG16_AWA2, "experiment"),
             "resnet_config_CUB_captions": (RESNET_CUB_CAPTIONS, "experiment"),
             "CUB_vgg_16_seen_proposed_finetune": (CUB_VGG16_FINETUNE, "finetune"),
             "AWA2_resnet_v1_101_seen_proposed_finetune_hsearch": (AWA2_RESNET_FINETUNE_HSEARCH, "finetune"),
             "AWA2_resnet_v1_101_finetuned_cnn_trainval_alpha_extract_config": (AWA2_RESNET_ALPHA_EXTRACT,
                                                                                "alpha_extract")}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "original_configs.json")) as f:
    ORIGINALS.update({name: (raw, original_config.stage_of(raw)) for name, raw in json.load(f).items()
                      if not name.startswith("_")})


def converted(name, tmp_path, capsys, *flags):
    raw, _ = ORIGINALS[name]
    source, out = tmp_path / f"{name}.json", tmp_path / f"{name}_ours.json"
    source.write_text(json.dumps(raw))
    original_config.main([str(source), "--out", str(out), *flags])
    return json.loads(out.read_text()), capsys.readouterr().err, out


def test_all_fourteen_configs_of_the_original_are_converted_here():
    """Its six experiment configs and eight seen-pretraining ones (4 finetune, 4 alpha extraction)."""
    stages = [stage for _, stage in ORIGINALS.values()]
    assert len(ORIGINALS) == 14 and [stages.count(s) for s in ("experiment", "finetune", "alpha_extract")] == [6, 4, 4]


@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_every_key_of_an_original_config_is_kept_replaced_or_ignored_and_the_result_loads(name, tmp_path, capsys):
    raw, stage = ORIGINALS[name]
    ours, report, path = converted(name, tmp_path, capsys)
    lines = [line.split() for line in report.splitlines()[1:-1]]
    lines = [words for words in lines if words[0] in ("kept", "replaced", "ignored")]  # not seed, missing lines
    assert sorted(words[1] for words in lines) == sorted(raw)  # one line per key of the original
    verdicts = {words[1]: words[0] for words in lines}
    for words in lines:
        verdict, key = words[0], words[1]
        assert verdict in ("kept", "replaced", "ignored"), words
        if verdict == "kept":
            assert key in ours
        elif verdict == "ignored":
            assert key not in ours and words[3:], words  # with its reason
    for key, value in ours.items():  # strings became the schema's types, with the same value
        if key not in raw or value == raw[key] or (verdicts[key] == "replaced"):
            continue
        if isinstance(value, bool):
            assert value == (raw[key] in ("1", "True")) and raw[key] in ("0", "1", "True", "False"), key
        elif value is None:
            assert raw[key] == "None", key
        else:
            assert isinstance(value, (int, float)) and value == float(raw[key]), key
    loaders = {"finetune": [seen_configs.load_finetune], "alpha_extract": [seen_configs.load_alpha_extract],
               "experiment": [lambda p: experiment.load(p, "mod2alpha"), lambda p: experiment.load(p, "alpha2w")]}
    for load in loaders[stage]:
        assert load(str(path)).model_name == raw["model_name"]


def test_numbers_and_booleans_are_typed_and_paths_become_the_datasets_prepared_files(tmp_path, capsys):
    ours, report, path = converted("vgg16_config_AWA2", tmp_path, capsys)
    assert [ours[k] for k in ("learning_rate", "reg_lambda", "num_epochs", "random_seed")] == [1e-3, 1e-3, 300, 123]
    assert "classattrdir" not in ours and "now " in report and "data/prepared/AWA2/class_attributes.npy" in report
    cfg = experiment.load(str(path), "alpha2w")
    assert cfg.classattrdir.endswith("data/prepared/AWA2/class_attributes.npy") and cfg.last_layer == "vgg_16/fc7"
    finetune, _, _ = converted("CUB_vgg_16_seen_proposed_finetune", tmp_path, capsys)
    assert finetune["dataset"] == "CUB" and finetune["finetune_whole_cnn"] is True and finetune["batch_size"] == 64
    hsearch, _, _ = converted("AWA2_resnet_v1_101_seen_proposed_finetune_hsearch", tmp_path, capsys)
    assert hsearch["lr_fc"] == "-4,-2" and hsearch["finetune_whole_cnn"] is False  # a log10 grid stays a grid
    captions, report, _ = converted("resnet_config_CUB_captions", tmp_path, capsys)
    assert (captions["caption_format"], captions["attrdir"]) == ("reed_w2v", original_config.REED_CAPTIONS)
    assert "replaced  prepro \"new\"" in report and captions["preprocess_fn"] == "vgg_plain_resize"


@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_faithful_sets_every_switch_of_the_originals_behaviour_with_why_and_the_result_loads(name, tmp_path, capsys):
    raw, stage = ORIGINALS[name]
    ours, report, path = converted(name, tmp_path, capsys, "--faithful")
    expected = {key: value for where, nets, key, value, _ in original_config.FAITHFUL
                if where == stage and (nets is None or raw["model_name"] in nets)}
    assert {key: ours[key] for key in expected} == expected
    faithful = [line.split()[1] for line in report.splitlines() if line.split()[0] == "faithful"]
    assert faithful == list(expected) and all(f"faithful  {key} " in report for key in expected)
    if stage == "finetune" and raw["model_name"] == "vgg_16":  # the VGG path: plain resize, clipped gradients
        assert ours["preprocess_fn"] == "vgg_plain_resize" and ours["clip_gradient_norm"] == 4.0
    if stage == "experiment":
        assert ours["zsl_loss_estop_rule"] == "iteration" and "fixes its seed at 1111" in report
    loaders = {"finetune": [seen_configs.load_finetune], "alpha_extract": [seen_configs.load_alpha_extract],
               "experiment": [lambda p: experiment.load(p, "mod2alpha"), lambda p: experiment.load(p, "alpha2w")]}
    for load in loaders[stage]:
        resolved = load(str(path))
        assert all(getattr(resolved, key) == value for key, value in expected.items())


def test_keys_the_originals_code_reads_but_its_own_config_lacks_are_reported(tmp_path, capsys):
    _, report, _ = converted("vgg16_config_AWA2", tmp_path, capsys)
    assert "missing   n_train_class null: the original's code reads it and this config lacks it" in report
    for name in ("resnet_config_AWA2", "resnet_config_CUB"):  # the original's ResNet attribute configs
        _, report, _ = converted(name, tmp_path, capsys)
        assert [line.split()[1] for line in report.splitlines() if line.split()[0] == "missing"] == \
            ["dom2alpha_lambda_reg"]
    _, report, _ = converted("CUB_vgg_16_seen_proposed_finetune", tmp_path, capsys)
    assert "missing" not in report and "ignored   c1_mean \"123.68\": the original's VGG finetuning never calls" \
        in report
    raw = {k: v for k, v in CUB_VGG16_FINETUNE.items() if not k.startswith("c") or not k.endswith("_mean")}
    (tmp_path / "awa2_vgg.json").write_text(json.dumps({**raw, "num_classes": "40"}))
    original_config.main([str(tmp_path / "awa2_vgg.json"), "--out", str(tmp_path / "ours.json"), "--dataset",
                          "AWA2"])
    report = capsys.readouterr().err
    assert all(f"missing   c{i}_mean null" in report for i in (1, 2, 3))


@pytest.mark.parametrize("change, expected", [
    ({"learning_rate": "fast"}, "key 'learning_rate' is \"fast\""),
    ({"not_a_key": "1"}, "key 'not_a_key' is not a key of the original release's configs"),
    ({"num_epochs": "-3"}, "key 'num_epochs' is -3"),
])
def test_a_bad_original_config_fails_with_one_line_and_writes_nothing(change, expected, tmp_path):
    source, out = tmp_path / "original.json", tmp_path / "ours.json"
    source.write_text(json.dumps({**VGG16_AWA2, **change}))
    done = run_script("utils/original_config.py", str(source), "--out", str(out))
    assert done.returncode == 2 and expected in last_error_line(done) and str(source) in last_error_line(done)
    assert not out.exists()
