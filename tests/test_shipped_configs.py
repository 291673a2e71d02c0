"""Every config of the pipeline table (arg_configs/pipelines.json, which run_pipeline.py and the stage runners read)
exists, validates, states only what differs from the defaults, and, resolved, points where the stage before it
writes. Stated paths of the seen-pretraining configs are relative to seen_pretraining/ (the runners cd there, as in
the original release); derived paths are absolute.
"""
import glob
import json
import os

import pytest

from utils import config, datasets, experiment, layout, nets_factory, pipeline, seen_configs
from utils.cli import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE_DIR = os.path.join(ROOT, "seen_pretraining")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RUNNERS = {"cnn_finetune.sh": ("finetune", seen_configs.FINETUNE, seen_configs.load_finetune),
           "alpha_extraction.sh": ("alpha_extract", seen_configs.ALPHA_EXTRACT, seen_configs.load_alpha_extract)}
EXPERIMENTS = sorted(glob.glob(os.path.join(ROOT, "arg_configs", "*_config_*.json")))


def table_configs(stage):
    """Every config the pipeline table names for `stage` (absolute paths), over all runs."""
    table = pipeline.load_table()
    return sorted({path for run in table["runs"] for path in pipeline.stage_configs(table, stage, run)})


def resolve(path):
    return os.path.normpath(os.path.join(STAGE_DIR, path))


def prepared_folders():
    """Prepared folder (absolute) -> the preparation config that writes it."""
    out = {}
    for path in glob.glob(os.path.join(ROOT, "arg_configs", "prepare", "*.json")):
        cfg = config.load_config(path, datasets.PREPARE_SCHEMA)
        out[os.path.normpath(os.path.join(ROOT, cfg.out_dir))] = cfg
    return out


def loaded(runner):
    stage, _, load = RUNNERS[runner]
    return {path: load(path) for path in table_configs(stage)}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_runner_names_every_shipped_config_and_each_validates(runner):
    stage, _, _ = RUNNERS[runner]
    assert f"python -m utils.pipeline configs {stage} " in open(os.path.join(STAGE_DIR, runner)).read()
    named = table_configs(stage)
    assert named == sorted(glob.glob(os.path.join(os.path.dirname(named[0]), "*.json")))
    for path, cfg in loaded(runner).items():
        spec = nets_factory.get_spec(cfg.model_name)
        assert cfg.image_size == spec.default_image_size and cfg.preprocess_fn == spec.preprocessing, path


def stated_defaults(raw, schema):
    return [key for key, value in raw.items() if schema[key].default is not config.REQUIRED
            and schema[key].default is not config.DERIVED and schema[key].default == value]


FACTS = ("model_class", "scope", "num_classes", "n_alphas", "last_layer", "prepared_dir", "alphadir",
         "dom2alpha_ckpt_dir", "ckpt_dir", "save_path", "train_split_json", "class_idmaps_json", "dataset_json")


def test_shipped_configs_state_only_what_differs_from_the_defaults():
    """Experiment configs average at most 15 keys; no shipped config restates a default, a network fact or a
    stage-to-stage path of the layout."""
    sizes = []
    for path in EXPERIMENTS:
        raw = json.load(open(path))
        sizes.append(len(raw))
        assert not stated_defaults(raw, experiment.SCHEMA) and not set(raw) & set(FACTS), path
    assert sum(sizes) / len(sizes) <= 15, sizes
    for runner in RUNNERS:
        _, schema, _ = RUNNERS[runner]
        for path in table_configs(RUNNERS[runner][0]):
            raw = json.load(open(path))
            assert not stated_defaults(raw, schema) and not set(raw) & set(FACTS), path


LOADERS = {**{path: experiment.load for path in EXPERIMENTS},
           **{path: seen_configs.load_finetune for path in table_configs("finetune")},
           **{path: seen_configs.load_alpha_extract for path in table_configs("alpha_extract")}}


@pytest.mark.parametrize("path", sorted(LOADERS), ids=os.path.basename)
def test_a_config_in_the_full_style_resolves_to_the_same_config(path, tmp_path):
    """What --print-config shows, every key stated as in the original's configs (the seen-pretraining ones then
    without the new `dataset` key), loads back to the same resolved config: stated facts agree with derived ones."""
    load = LOADERS[path]
    resolved = config.resolved_dict(load(path))
    full = {key: value for key, value in resolved.items() if key != "dataset" or load is experiment.load}
    (tmp_path / "full.json").write_text(json.dumps(full))
    again = config.resolved_dict(load(str(tmp_path / "full.json")))
    assert again == {**resolved, "dataset": again["dataset"]}


@pytest.mark.parametrize("key, value, words", [
    ("scope", "vgg_arg_scope", "'scope' is \"vgg_arg_scope\", but it is \"small_cnn_arg_scope\" from model_name"),
    ("model_class", "vgg", "'model_class' vgg does not match 'model_name' small_cnn"),
])
def test_a_stated_fact_that_disagrees_is_a_one_line_error(tmp_path, key, value, words):
    raw = json.load(open(os.path.join(ROOT, "arg_configs", "small_cnn_config_SYNTH.json")))
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({**raw, key: value}))
    with pytest.raises(UserError) as err:
        experiment.load(str(path), "alpha2w")
    assert str(err.value).startswith(str(path)) and words in str(err.value)


def test_a_stage_config_without_dataset_must_name_its_paths(tmp_path):
    path = tmp_path / "finetune.json"
    path.write_text(json.dumps({"model_name": "small_cnn", "batch_size": 8, "train_from_scratch": True}))
    with pytest.raises(UserError, match="missing 'train_split_json'; give it, or 'dataset'"):
        seen_configs.load_finetune(str(path))


def test_each_stage_reads_what_the_stage_before_it_writes():
    """finetune -> alpha extraction -> experiments, through the resolved configs, for every run of the table."""
    folders = prepared_folders()
    finetuned = {}
    for path, cfg in loaded("cnn_finetune.sh").items():
        lists = [resolve(getattr(cfg, f"{k}_split_json")) for k in ("train", "val", "test")]
        assert [os.path.basename(p) for p in lists] == ["seen_train.txt", "seen_val.txt", "seen_test.txt"], path
        assert {os.path.dirname(p) for p in lists} <= set(folders), f"{path}: lists outside any prepared folder"
        assert resolve(cfg.save_path).startswith(os.path.join(ROOT, "ckpt") + os.sep), path
        if cfg.ckpt_path is not None:
            assert resolve(cfg.ckpt_path) == os.path.join(ROOT, "ckpt", f"{cfg.model_name}.ckpt"), path
        else:
            assert cfg.train_from_scratch, path
        finetuned[os.path.join(resolve(cfg.save_path), "best")] = (cfg, os.path.dirname(lists[0]))
    alphas = {}
    for path, cfg in loaded("alpha_extraction.sh").items():
        source, prepared = finetuned[resolve(cfg.ckpt_path)]
        assert cfg.model_name == source.model_name, path
        assert resolve(cfg.class_idmaps_json) == os.path.join(prepared, "classes.json"), path
        assert [resolve(p) for p in cfg.dataset_json.split(",")] == [
            os.path.join(prepared, "seen_train.txt"), os.path.join(prepared, "seen_val.txt")], path
        data_dir = os.path.normpath(os.path.join(ROOT, folders[prepared].data_dir))
        assert resolve(cfg.class_list_f) == os.path.join(data_dir, "classes.txt"), path
        assert cfg.layer_name == nets_factory.get_spec(cfg.model_name).alpha_layer, path
        alphas[resolve(cfg.save_path)] = (cfg, prepared)
    outputs = set()
    for path in EXPERIMENTS:
        cfg = experiment.load(path, "alpha2w")
        source, prepared = alphas[cfg.alphadir]
        assert cfg.prepared_dir == prepared and cfg.ckpt_path == resolve(source.ckpt_path), path
        assert cfg.layer_name == source.layer_name and cfg.model_name == source.model_name, path
        assert cfg.ckpt_dir not in outputs and cfg.dom2alpha_ckpt_dir not in outputs, path
        outputs |= {cfg.ckpt_dir, cfg.dom2alpha_ckpt_dir}
        if cfg.calibration_gamma is not None:  # the results of a validation run of the same dataset, net, modality
            assert folders[prepared].split == "proposed", path
            validation = [experiment.load(p, "alpha2w") for p in EXPERIMENTS
                          if os.path.join(experiment.load(p, "alpha2w").ckpt_dir, "results.json")
                          == cfg.calibration_gamma]
            assert len(validation) == 1, path
            val_cfg = validation[0]
            assert (val_cfg.model_name, val_cfg.modality, val_cfg.unseen_norm_matching) == \
                (cfg.model_name, cfg.modality, cfg.unseen_norm_matching), path
            val_prepared = folders[val_cfg.prepared_dir]
            assert val_prepared.split != "proposed" and val_prepared.data_dir == folders[prepared].data_dir, path
            assert val_cfg.calibration_gamma is None, path


def test_pipeline_table_runs_read_the_folders_their_preparation_writes():
    """Each run's preparation config writes the folder its finetune and experiment configs read; every dataset's runs
    exist, and a dataset with a validation run runs it first (its alpha2w selects the final run's gamma)."""
    table = pipeline.load_table()
    folders = prepared_folders()
    for dataset, entry in table["datasets"].items():
        assert entry["runs"] and all(run in table["runs"] for run in entry["runs"]), dataset
        splits = [folders[os.path.normpath(os.path.join(ROOT, config.load_config(
            pipeline.stage_configs(table, "prepare", run)[0], datasets.PREPARE_SCHEMA).out_dir))].split
            for run in entry["runs"]]
        assert splits == sorted(splits, key=lambda s: s == "proposed") and splits[-1] == "proposed", dataset
    for run in table["runs"]:
        prepare = config.load_config(pipeline.stage_configs(table, "prepare", run)[0], datasets.PREPARE_SCHEMA)
        prepared = os.path.normpath(os.path.join(ROOT, prepare.out_dir))
        assert prepared == layout.prepared_dir(run), run
        for path in pipeline.stage_configs(table, "finetune", run):
            assert os.path.dirname(seen_configs.load_finetune(path).train_split_json) == prepared, path
        for path in pipeline.stage_configs(table, "alpha2w", run):
            assert experiment.load(path, "alpha2w").prepared_dir == prepared, path


# The original release's values of every hyperparameter its AwA2 / CUB configs state (its configs, read for this
# table; paths, counts the data decides and keys with no counterpart here are left out: see utils/original_config.py).
COMMON_EXP = {"dom2alpha_batch_size": 64, "zsl_loss_estop_window": 40, "eps_perc": 0.01, "optimizer": "adam",
              "unseen_w_init": "seen_centered", "alpha_loss_type": "cd", "dom2alpha_model": "linear",
              "reg_loss": "dimn_wise_l2", "sampling_mode": "imagenet", "supervision": "class", "image_size": 224}
VGG_EXP = {**COMMON_EXP, "layer_name": "conv5/conv5_3", "preprocess_fn": "vgg_preprocessing", "scope": "vgg_arg_scope",
           "model_class": "vgg", "model_name": "vgg_16"}
RESNET_EXP = {**COMMON_EXP, "layer_name": "block4/unit_1/bottleneck_v1", "preprocess_fn": "vgg_preprocessing",
              "scope": "resnet_arg_scope", "model_class": "resnet_v1", "model_name": "resnet_v1_101"}
FINETUNE = {"image_size": 224, "preprocess_fn": "vgg_preprocessing", "num_workers": 10, "dropout": 0.5,
            "random_seed": 123}
VGG_FINETUNE = {**FINETUNE, "model_name": "vgg_16", "layer_name": "fc8", "wt_dec": 5e-4, "lr_fc": 1e-3,
                "lr_full": 1e-5, "finetune_whole_cnn": True, "estop_fc": 3, "estop_full": 10, "num_epochs_fc": 200,
                "num_epochs_full": 400}
RESNET_FINETUNE = {**FINETUNE, "model_name": "resnet_v1_101", "layer_name": "logits", "wt_dec": "-5,-4",
                   "lr_fc": "-4,-2", "lr_full": "-7,-5", "finetune_whole_cnn": False, "estop_fc": 10, "estop_full": 10,
                   "num_epochs_fc": 600, "num_epochs_full": 600}
EXTRACT = {"random_seed": 123, "batch_size": 64, "image_size": 224, "preprocess_fn": "vgg_preprocessing"}
ORIGINAL_VALUES = {
    "arg_configs/vgg16_config_AWA2.json": {
        **VGG_EXP, "modality": "attributes", "random_seed": 123,
        "learning_rate": 1e-3, "reg_lambda": 1e-3, "batch_size": 64, "num_epochs": 300, "num_workers": 32,
        "dom2alpha_lambda_reg": 0.0},
    "arg_configs/resnet_config_AWA2.json": {
        **RESNET_EXP, "modality": "attributes", "random_seed": 1234,
        "learning_rate": 1e-3, "reg_lambda": 1e-3, "batch_size": 32, "num_epochs": 500, "num_workers": 8,
        "n_train_class": 35},
    "arg_configs/vgg16_config_CUB.json": {
        **VGG_EXP, "modality": "attributes", "random_seed": 1234,
        "learning_rate": 1e-4, "reg_lambda": 1e-2, "batch_size": 32, "num_epochs": 300, "num_workers": 32,
        "n_train_class": 145, "dom2alpha_lambda_reg": 0.0},
    "arg_configs/resnet_config_CUB.json": {
        **RESNET_EXP, "modality": "attributes", "random_seed": 1234,
        "learning_rate": 1e-4, "reg_lambda": 1e-2, "batch_size": 32, "num_epochs": 500, "num_workers": 16,
        "n_train_class": 145},
    "arg_configs/vgg16_config_CUB_captions.json": {
        **VGG_EXP, "modality": "captions", "random_seed": 1234,
        "learning_rate": 1e-4, "reg_lambda": 1e-4, "batch_size": 32, "num_epochs": 300, "num_workers": 32,
        "n_train_class": 145, "dom2alpha_lambda_reg": 0.0},
    "arg_configs/resnet_config_CUB_captions.json": {
        **RESNET_EXP, "modality": "captions", "random_seed": 1234,
        "learning_rate": 1e-4, "reg_lambda": 1e-2, "batch_size": 64, "num_epochs": 500, "num_workers": 16,
        "n_train_class": 145, "dom2alpha_lambda_reg": 0.0},
    "seen_pretraining/arg_configs/seen_finetune/AWA2_vgg_16_seen_proposed_finetune.json": {
        **VGG_FINETUNE, "batch_size": 63},
    "seen_pretraining/arg_configs/seen_finetune/CUB_vgg_16_seen_proposed_finetune.json": {
        **VGG_FINETUNE, "batch_size": 64},
    "seen_pretraining/arg_configs/seen_finetune/AWA2_resnet_v1_101_seen_proposed_finetune_hsearch.json": {
        **RESNET_FINETUNE, "batch_size": 33},
    "seen_pretraining/arg_configs/seen_finetune/CUB_resnet_v1_101_seen_proposed_finetune_hsearch.json": {
        **RESNET_FINETUNE, "batch_size": 32},
    "seen_pretraining/arg_configs/alpha_extract/AWA2_vgg_16_finetuned_cnn_trainval_alpha_extract_config.json": {
        **EXTRACT, "num_workers": 10, "layer_name": "vgg_16/conv5/conv5_3"},
    "seen_pretraining/arg_configs/alpha_extract/CUB_vgg_16_finetuned_cnn_trainval_alpha_extract_config.json": {
        **EXTRACT, "num_workers": 64, "layer_name": "vgg_16/conv5/conv5_3"},
    "seen_pretraining/arg_configs/alpha_extract/AWA2_resnet_v1_101_finetuned_cnn_trainval_alpha_extract_config.json": {
        **EXTRACT, "num_workers": 10, "layer_name": "resnet_v1_101/block4/unit_1/bottleneck_v1"},
    "seen_pretraining/arg_configs/alpha_extract/CUB_resnet_v1_101_finetuned_cnn_trainval_alpha_extract_config.json": {
        **EXTRACT, "num_workers": 10, "layer_name": "resnet_v1_101/block4/unit_1/bottleneck_v1"},
}


def test_the_shipped_awa2_and_cub_configs_hold_the_originals_hyperparameters():
    for path, original in ORIGINAL_VALUES.items():
        if "seen_finetune" in path:
            cfg = seen_configs.load_finetune(path)
        elif "alpha_extract" in path:
            cfg = seen_configs.load_alpha_extract(path)
        else:
            cfg = experiment.load(path)
            experiment.n_train_class(cfg, 150 if "CUB" in path else 40)
            cfg.layer_name = cfg.layer_name[len(cfg.model_name) + 1:]  # the original wrote it without the scope
        differ = {key: (value, getattr(cfg, key)) for key, value in original.items() if getattr(cfg, key) != value}
        assert not differ, (path, differ)


def test_shipped_configs_name_the_real_datasets_through_the_data_root(tmp_path, monkeypatch):
    """No shipped config names a folder of one machine: the real datasets are under ${NIWT_DATA} (download.sh fills
    it; default data/, relative to the repository unless absolute)."""
    shipped = glob.glob(os.path.join(ROOT, "arg_configs", "**", "*.json"), recursive=True) + \
        glob.glob(os.path.join(STAGE_DIR, "arg_configs", "**", "*.json"), recursive=True)
    texts = {path: open(path, encoding="utf-8").read() for path in shipped}
    assert not [path for path, text in texts.items() if "../shared" in text or "CUB_200_2011" in text]
    rooted = [path for path, text in texts.items() if "${NIWT_DATA}/" in text]
    assert len(rooted) >= 20
    path = os.path.join(ROOT, "arg_configs", "prepare", "cub_001_050.json")
    monkeypatch.setenv("NIWT_DATA", str(tmp_path / "datasets"))
    assert config.read_json_config(path)["image_dir"] == str(tmp_path / "datasets" / "CUB" / "images")
    monkeypatch.setenv("NIWT_DATA", "elsewhere")
    assert config.read_json_config(path)["data_dir"] == os.path.join(ROOT, "elsewhere", "CUB")
    monkeypatch.delenv("NIWT_DATA")
    assert config.read_json_config(path)["split_dir"] == os.path.join(ROOT, "data", "CUB", "xlsa17_proposed_split")
