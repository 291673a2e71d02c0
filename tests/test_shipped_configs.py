"""Every config a shell runner names exists, validates, and points where the stage before it writes.

Stage configs' paths are relative to seen_pretraining/ (the runners cd there, as in the original release);
preparation configs' paths are relative to the repository root.
"""
import glob
import importlib.util
import os
import re

import pytest

from utils import config, datasets, experiment, nets_factory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE_DIR = os.path.join(ROOT, "seen_pretraining")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RUNNERS = {"cnn_finetune.sh": "cnn_finetune.py", "alpha_extraction.sh": "alpha_extraction.py"}


def stage_module(script):
    spec = importlib.util.spec_from_file_location(script[:-3], os.path.join(STAGE_DIR, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def configs_named_by(runner):
    text = open(os.path.join(STAGE_DIR, runner)).read()
    folder = re.search(r"^DIR=(\S+)$", text, re.M).group(1)
    return sorted({os.path.join(folder, name) for name in re.findall(r"\$DIR/([\w.]+\.json)", text)})


def load_stage_configs(runner):
    schema = stage_module(RUNNERS[runner]).SCHEMA
    return {name: config.load_config(os.path.join(STAGE_DIR, name), schema) for name in configs_named_by(runner)}


def resolve(path):
    return os.path.normpath(os.path.join(STAGE_DIR, path))


def prepared_folders():
    """Prepared folder (absolute) -> the data_dir of the preparation config that writes it."""
    out = {}
    for path in glob.glob(os.path.join(ROOT, "arg_configs", "prepare", "*.json")):
        cfg = config.load_config(path, datasets.PREPARE_SCHEMA)
        out[os.path.normpath(os.path.join(ROOT, cfg.out_dir))] = os.path.normpath(os.path.join(ROOT, cfg.data_dir))
    return out


def assert_under_known_roots(path, key, name):
    roots = [os.path.join(ROOT, d) for d in ("data", "ckpt", "alphas")] + [os.path.join(SHARED, "data")]
    assert any(path.startswith(r + os.sep) for r in roots), f"{name}: '{key}' resolves to {path}"


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_runner_names_every_shipped_config_and_each_validates(runner):
    named = configs_named_by(runner)
    folder = os.path.dirname(named[0])
    shipped = sorted(os.path.relpath(p, STAGE_DIR) for p in glob.glob(os.path.join(STAGE_DIR, folder, "*.json")))
    assert named == shipped
    for name, cfg in load_stage_configs(runner).items():
        spec = nets_factory.spec_from_config(cfg, name)
        assert cfg.image_size == spec.default_image_size and cfg.preprocess_fn == spec.preprocessing, name


def test_finetune_configs_read_prepared_folders_and_write_under_ckpt():
    folders = prepared_folders()
    for name, cfg in load_stage_configs("cnn_finetune.sh").items():
        lists = [resolve(getattr(cfg, f"{k}_split_json")) for k in ("train", "val", "test")]
        assert [os.path.basename(p) for p in lists] == ["seen_train.txt", "seen_val.txt", "seen_test.txt"], name
        assert {os.path.dirname(p) for p in lists} <= set(folders), f"{name}: lists outside any prepared folder"
        assert resolve(cfg.save_path).startswith(os.path.join(ROOT, "ckpt") + os.sep), name
        if cfg.ckpt_path is not None:
            assert resolve(cfg.ckpt_path) == os.path.join(ROOT, "ckpt", f"{cfg.model_name}.ckpt"), name  # download.sh
        else:
            assert cfg.train_from_scratch, name


def test_alpha_configs_read_what_finetuning_writes():
    folders = prepared_folders()
    finetune = {os.path.basename(n).split("_seen_proposed")[0]: c for n, c in load_stage_configs("cnn_finetune.sh").items()}
    for name, cfg in load_stage_configs("alpha_extraction.sh").items():
        source = finetune[os.path.basename(name).split("_finetuned")[0]]  # same dataset and net
        assert (cfg.model_name, cfg.num_classes) == (source.model_name, source.num_classes), name
        assert resolve(cfg.ckpt_path) == os.path.join(resolve(source.save_path), "best"), name
        prepared = os.path.dirname(resolve(source.train_split_json))
        assert resolve(cfg.class_idmaps_json) == os.path.join(prepared, "classes.json"), name
        assert [resolve(p) for p in cfg.dataset_json.split(",")] == [
            os.path.join(prepared, "seen_train.txt"), os.path.join(prepared, "seen_val.txt")], name
        assert resolve(cfg.class_list_f) == os.path.join(folders[prepared], "classes.txt"), name
        assert cfg.layer_name == nets_factory.get_spec(cfg.model_name).alpha_layer, name
        for key in ("class_list_f", "ckpt_path", "save_path"):
            assert_under_known_roots(resolve(getattr(cfg, key)), key, name)


def test_experiment_configs_read_what_alpha_extraction_writes():
    """mod2alpha.sh names every experiment config; each reads a prepared folder and an alpha folder of its net."""
    text = open(os.path.join(ROOT, "mod2alpha.sh")).read()
    named = sorted(set(re.findall(r"\$DIR/([\w.]+\.json)", text)))
    shipped = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "arg_configs", "*_config_*.json")))
    assert named == shipped
    folders = prepared_folders()
    alpha_runs = {resolve(c.save_path): c for c in load_stage_configs("alpha_extraction.sh").values()}
    for name in named:
        cfg = experiment.load(os.path.join(ROOT, "arg_configs", name))
        prepared = os.path.normpath(os.path.join(ROOT, cfg.prepared_dir))
        assert prepared in folders, f"{name}: prepared_dir {prepared} is written by no preparation config"
        source = alpha_runs[os.path.normpath(os.path.join(ROOT, cfg.alphadir))]
        assert resolve(source.class_idmaps_json) == os.path.join(prepared, "classes.json"), name
        assert cfg.n_alphas == nets_factory.get_spec(source.model_name).alpha_channels, name
        for key in ("classattrdir", "classattrdir_binary"):
            if getattr(cfg, key) is not None:
                assert os.path.dirname(os.path.join(ROOT, getattr(cfg, key))) == prepared, f"{name}: {key}"
        assert cfg.dom2alpha_ckpt_dir.startswith("ckpt/mod2alpha/"), name
