import json
import os

import pytest

from conftest import finetune_config, last_error_line, run_in_process, run_script, synth_config
from utils import checkpoints, datasets, synthetic


def run_stage(tmp_path, cfg):
    path = tmp_path / "finetune.json"
    path.write_text(json.dumps(cfg))
    return run_script("seen_pretraining/cnn_finetune.py", str(path))


@pytest.fixture(scope="module")
def prepared(small_synth, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("prep") / "synth")
    datasets.prepare(synth_config(small_synth, out, random_seed=0))
    return out


def test_two_phases_keep_the_best_checkpoint_and_a_rerun_resumes(prepared, tmp_path):
    save_path = str(tmp_path / "run")
    done = run_stage(tmp_path, finetune_config(prepared, save_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[fc   1]" in done.stdout and "[full   2]" in done.stdout
    perf = json.load(open(os.path.join(save_path, "test_perf.json")))
    assert perf["selected_on"] == "seen-val loss" and 0.0 <= perf["test_acc"] <= 1.0
    assert os.path.isfile(os.path.join(save_path, "best", "model.ckpt.index"))
    assert all(os.path.isfile(os.path.join(save_path, f)) for f in ("loss.png", "accuracy.png", "state.json"))
    more = run_stage(tmp_path, finetune_config(prepared, save_path, num_epochs_full=3))
    assert more.returncode == 0, more.stderr[-2000:]
    assert "[full   3]" in more.stdout and "[full   1]" not in more.stdout  # continued, not restarted


def test_bad_configs_fail_with_one_line(prepared, tmp_path):
    for overrides, words in (({"num_classes": 40}, "'num_classes' is 40 but the split lists have 9"),
                             ({"train_from_scratch": False}, "'ckpt_path' is null"),
                             ({"ckpt_path": str(tmp_path / "none.ckpt"), "train_from_scratch": False},
                              "checkpoint not found"),
                             ({"layer_name": "fc8"}, "'layer_name' of small_cnn is 'logits'"),
                             ({"finetune_whole_cnn": "1"}, "must be a boolean")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(finetune_config(prepared, str(tmp_path / "bad"), **overrides)))
        failed = run_in_process("seen_pretraining/cnn_finetune.py", str(path))
        last = last_error_line(failed)
        assert failed.returncode == 2 and last.startswith("error: ") and words in last
        assert "Traceback" not in failed.stderr
        assert not os.path.exists(tmp_path / "bad")


def test_grid_search_selects_on_seen_val_loss_and_copies_the_winner(prepared, tmp_path):
    save_path = str(tmp_path / "grid")
    done = run_stage(tmp_path, finetune_config(prepared, save_path, lr_fc="-3,-2", finetune_whole_cnn=False,
                                               train_from_scratch=True, num_epochs_fc=1))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.load(open(os.path.join(save_path, "hsearch_summary.json")))
    assert [row["lr_fc"] for row in rows] == [1e-3, 1e-2]
    winner = min(rows, key=lambda row: row["val_loss"])
    perf = json.load(open(os.path.join(save_path, "test_perf.json")))
    assert perf["lr_fc"] == winner["lr_fc"] and perf["val_loss"] == winner["val_loss"]
    assert os.path.isfile(os.path.join(save_path, "best", "model.ckpt.index"))
    best = os.path.join(save_path, "best")
    assert checkpoints.checkpoint_prefix(best) == os.path.join(best, "model.ckpt")  # the copy points at itself


def test_small_cnn_on_generated_data_reaches_0_8_per_class_seen_val_accuracy(tmp_path):
    """A few minutes' budget: 12 seen classes x 60 images, 20 epochs from scratch (~25 s); selected on seen-val loss."""
    data, prepared = str(tmp_path / "synth"), str(tmp_path / "prepared")
    synthetic.generate(data, seed=5, n_classes=16, n_unseen=4, n_val_classes=4, images_per_class=60)
    datasets.prepare(synth_config(data, prepared, random_seed=0))
    save_path = str(tmp_path / "run")
    done = run_stage(tmp_path, finetune_config(prepared, save_path, num_classes=12, num_epochs_fc=0,
                                               num_epochs_full=20, lr_full=2e-3, estop_full=5, random_seed=123))
    assert done.returncode == 0, done.stderr[-2000:]
    perf = json.load(open(os.path.join(save_path, "test_perf.json")))
    assert perf["val_acc"] >= 0.8, done.stdout[-2000:]
    assert perf["test_acc"] >= 0.7  # seen test images, never used for the selection
