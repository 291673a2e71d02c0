import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


@pytest.fixture(scope="session")
def shared_data():
    """The real CUB/AwA2 files beside the project; tests that need them skip cleanly without them."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"{SHARED_DATA} is absent (real CUB/AwA2 files); these tests need it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory):
    """A small generated dataset (12 classes: 3 unseen, 3 validation) shared by the tests."""
    from utils import synthetic
    out = str(tmp_path_factory.mktemp("synth") / "small")
    synthetic.generate(out, seed=3, n_classes=12, n_unseen=3, n_val_classes=3, images_per_class=20)
    return out


def run_script(script, *args, cwd=ROOT):
    """Run a stage script as a user does; returns the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True,
                          cwd=cwd)


def last_error_line(completed):
    """The one-line report of a failed stage (TensorFlow's start-up notices may precede it on stderr)."""
    lines = completed.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def synth_config(folder, out_dir, **overrides):
    """A validated preparation config for a generated dataset in `folder`."""
    from utils import datasets
    from utils.config import validate
    raw = {"name": "SYNTH", "dataset_format": "CUB", "data_dir": folder, "image_dir": os.path.join(folder, "images"),
           "split_dir": os.path.join(folder, "xlsa17_proposed_split"), "out_dir": out_dir, "random_seed": 1}
    raw.update(overrides)
    return validate(raw, datasets.PREPARE_SCHEMA, "test-config")


def finetune_config(prepared, save_path, **overrides):
    """A cnn_finetune.py config for small_cnn from scratch on a prepared generated dataset."""
    cfg = {"train_split_json": f"{prepared}/seen_train.txt", "val_split_json": f"{prepared}/seen_val.txt",
           "test_split_json": f"{prepared}/seen_test.txt", "model_class": "small_cnn", "model_name": "small_cnn",
           "image_size": 64, "layer_name": "logits", "num_classes": 9, "preprocess_fn": "small_cnn_preprocessing",
           "batch_size": 32, "num_workers": 2, "scope": "small_cnn_arg_scope", "wt_dec": 5e-4, "dropout": 0.5,
           "ckpt_path": None, "train_from_scratch": True, "lr_fc": 1e-3, "lr_full": 3e-3, "save_path": save_path,
           "finetune_whole_cnn": True, "estop_fc": 2, "estop_full": 5, "num_epochs_fc": 1, "num_epochs_full": 2,
           "random_seed": 1}
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="session")
def seen_model(tmp_path_factory):
    """A generated dataset (40 classes: 30 seen, 10 unseen; 100 images each), prepared, and small_cnn finetuned on its
    seen classes (25 epochs, about 75 s): the trained network that the later stages' tests start from. It needs this
    many seen classes for a domain -> alpha map to generalise to held-out classes."""
    from utils import datasets, synthetic
    root = tmp_path_factory.mktemp("seen_model")
    data, prepared, save_path = str(root / "synth"), str(root / "prepared"), str(root / "finetune")
    synthetic.generate(data, seed=5, n_classes=40, n_unseen=10, n_val_classes=10, images_per_class=100)
    datasets.prepare(synth_config(data, prepared, random_seed=0))
    config = finetune_config(prepared, save_path, num_classes=30, lr_full=2e-3, estop_fc=3, estop_full=8,
                             num_epochs_fc=0, num_epochs_full=25, random_seed=123)
    config_path = root / "finetune.json"
    config_path.write_text(json.dumps(config))
    done = run_script("seen_pretraining/cnn_finetune.py", str(config_path))
    assert done.returncode == 0, done.stderr[-3000:]
    return {"data": data, "prepared": prepared, "save_path": save_path, "checkpoint": os.path.join(save_path, "best"),
            "finetune_stdout": done.stdout}


@pytest.fixture(scope="session")
def seen_alphas(seen_model, tmp_path_factory):
    """alpha_extraction.py run on the `seen_model` network (seen train + val images): its save_path."""
    root = tmp_path_factory.mktemp("seen_alphas")
    prepared = seen_model["prepared"]
    config = {"random_seed": 123, "num_classes": 30, "class_list_f": os.path.join(seen_model["data"], "classes.txt"),
              "class_idmaps_json": f"{prepared}/classes.json",
              "dataset_json": f"{prepared}/seen_train.txt,{prepared}/seen_val.txt",
              "preprocess_fn": "small_cnn_preprocessing", "model_class": "small_cnn", "model_name": "small_cnn",
              "image_size": 64, "num_workers": 2, "batch_size": 64, "scope": "small_cnn_arg_scope",
              "bypass_name": "None", "orig_ckpt_path": None, "ckpt_path": seen_model["checkpoint"],
              "layer_name": "small_cnn/conv4", "save_path": str(root / "alphas"), "n_gradcam": 5}
    (root / "extract.json").write_text(json.dumps(config))
    done = run_script("seen_pretraining/alpha_extraction.py", str(root / "extract.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    return config
