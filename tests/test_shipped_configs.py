"""Every config of the pipeline table (arg_configs/pipelines.json, which run_pipeline.py and the stage runners read)
exists, validates, and points where the stage before it writes.

Stage configs' paths are relative to seen_pretraining/ (the runners cd there, as in the original release);
preparation configs' paths are relative to the repository root.
"""
import glob
import importlib.util
import os

import pytest

from utils import config, datasets, experiment, nets_factory, pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE_DIR = os.path.join(ROOT, "seen_pretraining")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RUNNERS = {"cnn_finetune.sh": ("cnn_finetune.py", "finetune"), "alpha_extraction.sh": ("alpha_extraction.py",
                                                                                    "alpha_extract")}


def stage_module(script):
    spec = importlib.util.spec_from_file_location(script[:-3], os.path.join(STAGE_DIR, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_configs(stage):
    """Every config the pipeline table names for `stage` (absolute paths), over all runs."""
    table = pipeline.load_table()
    return sorted({path for run in table["runs"] for path in pipeline.stage_configs(table, stage, run)})


def configs_named_by(runner):
    """The configs of a stage-1/2 runner's stage, relative to seen_pretraining/."""
    return [os.path.relpath(path, STAGE_DIR) for path in table_configs(RUNNERS[runner][1])]


def load_stage_configs(runner):
    schema = stage_module(RUNNERS[runner][0]).SCHEMA
    return {name: config.load_config(os.path.join(STAGE_DIR, name), schema) for name in configs_named_by(runner)}


def resolve(path):
    return os.path.normpath(os.path.join(STAGE_DIR, path))


def prepared_folders():
    """Prepared folder (absolute) -> the preparation config that writes it."""
    out = {}
    for path in glob.glob(os.path.join(ROOT, "arg_configs", "prepare", "*.json")):
        cfg = config.load_config(path, datasets.PREPARE_SCHEMA)
        out[os.path.normpath(os.path.join(ROOT, cfg.out_dir))] = cfg
    return out


def assert_under_known_roots(path, key, name):
    roots = [os.path.join(ROOT, d) for d in ("data", "ckpt", "alphas")] + [os.path.join(SHARED, "data")]
    assert any(path.startswith(r + os.sep) for r in roots), f"{name}: '{key}' resolves to {path}"


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_runner_names_every_shipped_config_and_each_validates(runner):
    assert f"python -m utils.pipeline configs {RUNNERS[runner][1]} " in open(os.path.join(STAGE_DIR, runner)).read()
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
        data_dir = os.path.normpath(os.path.join(ROOT, folders[prepared].data_dir))
        assert resolve(cfg.class_list_f) == os.path.join(data_dir, "classes.txt"), name
        assert cfg.layer_name == nets_factory.get_spec(cfg.model_name).alpha_layer, name
        for key in ("class_list_f", "ckpt_path", "save_path"):
            assert_under_known_roots(resolve(getattr(cfg, key)), key, name)


def test_experiment_configs_read_what_alpha_extraction_writes():
    """The pipeline table names every experiment config, for mod2alpha.sh, alpha2w.sh and explain; each reads a
    prepared folder, an alpha folder of its net and the finetuned network those alphas came from."""
    shipped = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "arg_configs", "*_config_*.json")))
    for stage in ("mod2alpha", "alpha2w", "explain"):
        assert [os.path.basename(p) for p in table_configs(stage)] == shipped, stage
    for runner, stage in (("mod2alpha.sh", "mod2alpha"), ("alpha2w.sh", "alpha2w")):
        assert f"python -m utils.pipeline configs {stage} " in open(os.path.join(ROOT, runner)).read(), runner
    folders = prepared_folders()
    alpha_runs = {resolve(c.save_path): c for c in load_stage_configs("alpha_extraction.sh").values()}
    outputs = set()
    for name in shipped:
        cfg = experiment.load(os.path.join(ROOT, "arg_configs", name), "mod2alpha")
        assert vars(experiment.load(os.path.join(ROOT, "arg_configs", name), "alpha2w")) == vars(cfg), name
        spec = nets_factory.spec_from_config(cfg, name)
        prepared = os.path.normpath(os.path.join(ROOT, cfg.prepared_dir))
        assert prepared in folders, f"{name}: prepared_dir {prepared} is written by no preparation config"
        source = alpha_runs[os.path.normpath(os.path.join(ROOT, cfg.alphadir))]
        assert resolve(source.class_idmaps_json) == os.path.join(prepared, "classes.json"), name
        assert cfg.n_alphas == nets_factory.get_spec(source.model_name).alpha_channels, name
        for key in ("classattrdir", "classattrdir_binary"):
            if getattr(cfg, key) is not None:
                assert os.path.dirname(os.path.join(ROOT, getattr(cfg, key))) == prepared, f"{name}: {key}"
        assert cfg.dom2alpha_ckpt_dir.startswith("ckpt/mod2alpha/"), name
        # alpha2w: the same network and layer as the alphas, the penultimate features of the factory
        assert (cfg.model_name, cfg.image_size, cfg.preprocess_fn) == (source.model_name, spec.default_image_size,
                                                                       spec.preprocessing), name
        assert os.path.join(ROOT, cfg.ckpt_path) == resolve(source.ckpt_path), name
        assert f"{cfg.model_name}/{cfg.layer_name}" == source.layer_name == spec.alpha_layer, name
        assert cfg.last_layer in (None, spec.penultimate_layer), name
        assert cfg.ckpt_dir.startswith("ckpt/alpha2w/") and cfg.ckpt_dir not in outputs, name
        outputs.add(cfg.ckpt_dir)
        if isinstance(cfg.calibration_gamma, str):  # the results of a validation run of the same dataset and net
            assert folders[prepared].split == "proposed", name
            validation = [n for n in shipped if experiment.load(os.path.join(ROOT, "arg_configs", n), "alpha2w")
                          .ckpt_dir == os.path.dirname(cfg.calibration_gamma)]
            assert len(validation) == 1 and os.path.basename(cfg.calibration_gamma) == "results.json", name
            val_cfg = experiment.load(os.path.join(ROOT, "arg_configs", validation[0]), "alpha2w")
            assert (val_cfg.model_name, val_cfg.modality, val_cfg.unseen_norm_matching) == \
                (cfg.model_name, cfg.modality, cfg.unseen_norm_matching), name
            val_prepared = folders[os.path.normpath(os.path.join(ROOT, val_cfg.prepared_dir))]
            assert val_prepared.split != "proposed" and val_prepared.data_dir == folders[prepared].data_dir, name
            assert val_cfg.calibration_gamma is None, name


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
        for path in pipeline.stage_configs(table, "finetune", run):
            finetune = config.load_config(path, stage_module("cnn_finetune.py").SCHEMA)
            assert os.path.dirname(resolve(finetune.train_split_json)) == prepared, path
        for path in pipeline.stage_configs(table, "alpha2w", run):
            assert os.path.normpath(os.path.join(ROOT, experiment.load(path, "alpha2w").prepared_dir)) == prepared
