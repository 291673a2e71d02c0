import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, finetune_config, last_error_line, run_in_process, run_script, run_workers, synth_config
from utils import checkpoints, datasets, input_pipeline, nets_factory, provenance, splits
from utils.tf_compat import tf, tf1


def run_stage(tmp_path, cfg):
    path = tmp_path / "finetune.json"
    path.write_text(json.dumps(cfg))
    return run_script("seen_pretraining/cnn_finetune.py", str(path))


@pytest.fixture(scope="module")
def prepared(small_synth, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("prep") / "synth")
    datasets.prepare(synth_config(small_synth, out, random_seed=0))
    return out


def test_provenance_names_the_cpu_the_instruction_sets_onednn_picks_kernels_by_tensorflow_and_the_switch(tmp_path,
                                                                                                     monkeypatch):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 fma\n\n"
                                      "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 fma\n")
    assert provenance.cpu_info(str(tmp_path / "cpuinfo")) == ("AMD EPYC 7B13", {"fpu", "sse2", "avx2", "fma"})
    assert provenance.cpu_info(str(tmp_path / "none"))[1] == set()
    record = provenance.record()
    assert record["tensorflow"] == tf.__version__ and record["onednn"] and record["cpu"]
    assert set(record["instruction_sets"]) <= set(provenance.INSTRUCTION_SETS)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert provenance.record()["onednn"] is False


@pytest.mark.slow
def test_two_phases_keep_the_best_checkpoint_and_a_rerun_resumes(prepared, tmp_path):
    save_path = str(tmp_path / "run")
    done = run_stage(tmp_path, finetune_config(prepared, save_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[fc   1]" in done.stdout and "[full   2]" in done.stdout
    perf = json.load(open(os.path.join(save_path, "test_perf.json")))
    assert perf["selected_on"] == "seen-val loss" and 0.0 <= perf["test_acc"] <= 1.0
    assert perf["provenance"] == provenance.record()  # the machine that trained it
    assert os.path.isfile(os.path.join(save_path, "best", "model.ckpt.index"))
    assert all(os.path.isfile(os.path.join(save_path, f)) for f in ("loss.png", "accuracy.png", "state.json"))
    state = json.load(open(os.path.join(save_path, "state.json")))
    assert not os.path.isabs(state["best"]["checkpoint"]) and state["run_of"]["num_classes"] == 9
    copy = str(tmp_path / "copied_run")  # a copied folder resumes and finalises from its own files
    shutil.copytree(save_path, copy)
    shutil.rmtree(save_path)
    more = run_stage(tmp_path, finetune_config(prepared, copy, num_epochs_full=3))
    assert more.returncode == 0, more.stderr[-2000:]
    assert "[full   3]" in more.stdout and "[full   1]" not in more.stdout  # continued, not restarted
    assert json.load(open(os.path.join(copy, "test_perf.json")))["best_checkpoint"].startswith(copy)
    # another config's run in the folder (other training labels) is refused, and the folder left as it was
    lines = open(f"{prepared}/seen_train.txt").read().splitlines()
    other = tmp_path.parent / f"{os.path.basename(prepared)}_other" / "seen_train.txt"  # a prepared folder copy
    shutil.copytree(prepared, other.parent)
    other.write_text("".join(f"{line.rsplit(' ', 1)[0]} {(int(line.rsplit(' ', 1)[1]) + 1) % 9}\n" for line in lines))
    before = open(os.path.join(copy, "state.json")).read()
    refused = run_stage(tmp_path, finetune_config(prepared, copy, num_epochs_full=4, train_split_json=str(other)))
    assert refused.returncode == 2 and "state.json: holds a run of another config (train_images differ" in \
        refused.stderr and "choose another 'save_path'" in refused.stderr
    assert open(os.path.join(copy, "state.json")).read() == before


@pytest.mark.slow
def test_later_stages_read_the_best_over_both_phases_or_as_the_original_the_last_phases(prepared, tmp_path):
    """Phase 2 at a step size that wrecks the network: its epochs are worse on seen-val than phase 1's best."""
    common = dict(num_epochs_fc=2, num_epochs_full=2, lr_full=1.0, estop_full=5)
    perf = {}
    for name, switch in (("ours", False), ("original", True)):
        save_path = str(tmp_path / name)
        done = run_stage(tmp_path, finetune_config(prepared, save_path, best_of_last_phase=switch, **common))
        assert done.returncode == 0, done.stderr[-2000:]
        perf[name] = json.load(open(os.path.join(save_path, "test_perf.json")))
        state = json.load(open(os.path.join(save_path, "state.json")))
        phase_best = {phase: min(r["val_loss"] for r in state["history"] if r["phase"] == phase)
                      for phase in ("fc", "full")}
        assert phase_best["full"] > phase_best["fc"], name  # the wrecked phase 2 is worse
        assert perf[name]["val_loss"] == pytest.approx(val_loss_of(perf[name]["best_checkpoint"], prepared, 9),
                                                       rel=1e-4)
    assert perf["ours"]["phase"] == "fc" and perf["ours"]["val_loss"] == pytest.approx(phase_best["fc"])
    assert perf["original"]["phase"] == "full" and perf["original"]["val_loss"] == pytest.approx(phase_best["full"])


def val_loss_of(checkpoint, prepared, n_classes):
    """Mean cross-entropy of the seen-val images under the whole network restored from `checkpoint`."""
    graph = tf.Graph()
    with graph.as_default():
        val = splits.load_list(f"{prepared}/seen_val.txt")
        dataset = input_pipeline.image_dataset(val.paths, val.labels, "small_cnn_preprocessing", 64, 64, False)
        images, labels, _ = tf1.data.make_one_shot_iterator(dataset).get_next()
        logits, _ = nets_factory.get_network_fn("small_cnn", n_classes)(images)
        xent = tf1.losses.sparse_softmax_cross_entropy(labels, logits, reduction=tf1.losses.Reduction.NONE)
        restore = checkpoints.restore_fn(checkpoint)
    losses = []
    with tf1.Session(graph=graph) as sess:
        restore(sess)
        while True:
            try:
                losses.append(sess.run(xent))
            except tf.errors.OutOfRangeError:
                return float(np.mean(np.concatenate(losses)))


@pytest.mark.slow
def test_the_cached_logits_phase_trains_the_same_model_and_writes_the_same_checkpoint(prepared, tmp_path):
    """Logits only, from the same random trunk: with cached features the kept checkpoint holds every variable,
    the trunk unchanged, and its val loss re-evaluated through the whole network is the one recorded."""
    trunks = {}
    for cached, views in ((True, 1), (False, 1), (True, 2)):
        save_path = str(tmp_path / f"cached_{cached}_{views}")
        done = run_stage(tmp_path, finetune_config(prepared, save_path, finetune_whole_cnn=False, num_epochs_fc=3,
                                                   estop_fc=3, cache_fc_features=cached, fc_feature_views=views))
        assert done.returncode == 0, done.stderr[-2000:]
        assert ("cached penultimate features of 180 images" in done.stdout) == cached, done.stdout
        assert ("(2 training views)" in done.stdout) == (views == 2)
        perf = json.load(open(os.path.join(save_path, "test_perf.json")))
        assert perf["val_loss"] == pytest.approx(val_loss_of(perf["best_checkpoint"], prepared, 9), rel=1e-4)
        reader = tf1.train.load_checkpoint(perf["best_checkpoint"])
        trunks[cached, views] = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                                 if not name.startswith("small_cnn/logits")}
    assert trunks[True, 1].keys() == trunks[False, 1].keys() and len(trunks[True, 1]) > 10
    for name, value in trunks[True, 1].items():  # the same random initialisation, never trained
        np.testing.assert_array_equal(value, trunks[False, 1][name], err_msg=name)


@pytest.mark.slow
def test_the_originals_finetuning_behaviours_are_switches(prepared, tmp_path):
    """From one trained network: logits-only finetuning with the original's training-mode phase 1 (its moving
    averages move), weight decay over
    every trainable variable (in the val loss too), gradient clipping and batch-norm betas re-initialised after the
    restore, against ours."""
    pretrained = str(tmp_path / "pretrained")
    assert run_stage(tmp_path, finetune_config(prepared, pretrained)).returncode == 0
    start = os.path.join(pretrained, "best")
    common = dict(ckpt_path=start, train_from_scratch=False, finetune_whole_cnn=False, num_epochs_fc=1,
                  cache_fc_features=False)
    original = dict(fc_phase_is_training=True, wt_dec_all_variables=True, clip_gradient_norm=4.0,
                    reinit_batchnorm_beta=True)
    perf, tensors = {}, {}
    for name, switches in (("ours", {}), ("original", original)):
        save_path = str(tmp_path / name)
        done = run_stage(tmp_path, finetune_config(prepared, save_path, **common, **switches))
        assert done.returncode == 0, done.stderr[-2000:]
        perf[name] = json.load(open(os.path.join(save_path, "test_perf.json")))
        reader = tf1.train.load_checkpoint(perf[name]["best_checkpoint"])
        tensors[name] = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    reader = tf1.train.load_checkpoint(start)
    betas = [n for n in tensors["ours"] if "beta" in n]
    assert len(betas) == 4 and all(np.any(reader.get_tensor(n) != 0) for n in betas)
    for n in betas:  # the trunk is frozen in this phase: the betas stay as restored, or as re-initialised
        np.testing.assert_array_equal(tensors["ours"][n], reader.get_tensor(n))
        assert not np.any(tensors["original"][n])
    moving = [n for n in tensors["ours"] if "moving_" in n]
    assert len(moving) == 8
    for n in moving:  # the original's training-mode phase 1 runs the update ops (slim's create_train_op) too
        np.testing.assert_array_equal(tensors["ours"][n], reader.get_tensor(n))
        assert np.all(tensors["original"][n] != reader.get_tensor(n)), n
    for name in perf:  # the recorded early-stopping val loss: cross-entropy, plus the original's penalty
        trainable = sum(0.5 * np.sum(v.astype(np.float64) ** 2) for n, v in tensors[name].items() if "moving_" not in n)
        penalty = 5e-4 * trainable if name == "original" else 0.0
        xent = val_loss_of(perf[name]["best_checkpoint"], prepared, 9)
        assert perf[name]["val_loss"] == pytest.approx(xent + penalty, rel=1e-4), name
        assert penalty == 0.0 or penalty > 0.01 * xent


def run_replicated(tmp_path, cfg, devices=2):
    """The stage in a fresh process whose CPU is split into `devices` logical devices (utils/devices.py)."""
    path = tmp_path / "replicated.json"
    path.write_text(json.dumps({**cfg, "distribute": "mirrored"}))
    return subprocess.run([sys.executable, os.path.join(ROOT, "seen_pretraining/cnn_finetune.py"), str(path),
                           "--cpu-devices", str(devices)], capture_output=True, text=True, cwd=ROOT)


def run_workers_on(tmp_path, cfg):
    """The stage as two worker processes of one cluster on this machine (TF_CONFIG; utils/devices.py): the chief's
    CompletedProcess."""
    path = tmp_path / "workers.json"
    path.write_text(json.dumps({**cfg, "distribute": "multi_worker_mirrored"}))
    chief, other = run_workers("seen_pretraining/cnn_finetune.py", path)
    assert other.returncode == 0, other.stderr[-3000:]
    assert f"the chief (worker 0) writes {cfg['save_path']}" in other.stdout
    return chief


@pytest.mark.slow
def test_replicas_and_workers_train_as_one_device_and_write_checkpoints_one_device_reads(prepared, tmp_path):
    """MirroredStrategy over 2 logical CPU devices, and MultiWorkerMirroredStrategy over two worker processes, from
    the same checkpoint (weights and Adam state) and the same global batches of 32 (16 per replica): the same
    training and validation losses as one device, epoch by epoch, with the trunk at every step and with the cached
    feature bank; a replicated phase 2 (batch norm on per-replica batch statistics, moving averages averaged over
    the replicas) writes a checkpoint whose recorded val loss is the one-device network's; of the workers only the
    chief leaves a folder."""
    # with the training augmentation: its crops and flips are drawn from (seed, epoch, image), on any device count
    common = dict(finetune_whole_cnn=False, cache_fc_features=False, estop_fc=5)
    single = str(tmp_path / "single")
    assert run_stage(tmp_path, finetune_config(prepared, single, num_epochs_fc=1, **common)).returncode == 0
    run = {"one_device": run_stage, "mirrored": run_replicated, "multi_worker_mirrored": run_workers_on}
    for cached in (False, True):  # the trunk at every step, and the cached feature bank
        histories = {}
        for how in run:
            folder = str(tmp_path / f"cached{cached}_{how}")
            shutil.copytree(single, folder)  # the same weights and Adam state to continue from
            done = run[how](tmp_path, finetune_config(prepared, folder, num_epochs_fc=2,
                                                      **{**common, "cache_fc_features": cached}))
            assert done.returncode == 0, done.stderr[-3000:]
            assert how == "one_device" or f"{how}: 2 replicas share each batch of 32" in done.stdout
            histories[how] = json.load(open(os.path.join(folder, "state.json")))["history"]
        for how in ("mirrored", "multi_worker_mirrored"):
            assert [row["epoch"] for row in histories[how]] == [1, 2]  # resumed from the copied epoch
            for key in ("train_loss", "val_loss", "test_loss", "val_acc"):
                assert histories[how][1][key] == pytest.approx(histories["one_device"][1][key], rel=1e-4), \
                    (cached, how, key)
    for how in ("mirrored", "multi_worker_mirrored"):
        whole = str(tmp_path / f"whole_{how}")
        done = run[how](tmp_path, finetune_config(prepared, whole, num_epochs_fc=0, num_epochs_full=1))
        assert done.returncode == 0, done.stderr[-3000:]
        perf = json.load(open(os.path.join(whole, "test_perf.json")))
        assert perf["val_loss"] == pytest.approx(val_loss_of(perf["best_checkpoint"], prepared, 9), rel=1e-4), how
    assert not [name for name in os.listdir(tmp_path) if ".worker" in name]


def test_bad_configs_fail_with_one_line(prepared, tmp_path):
    for overrides, words in (({"num_classes": 40}, "'num_classes' is 40, but it is 9 from the split lists"),
                             ({"train_from_scratch": False}, "'ckpt_path' is null"),
                             ({"ckpt_path": str(tmp_path / "none.ckpt"), "train_from_scratch": False},
                              "checkpoint not found"),
                             ({"layer_name": "fc8"}, "is \"fc8\", but it is \"logits\" from model_name"),
                             ({"finetune_whole_cnn": "1"}, "must be a boolean"),
                             ({"fc_phase_is_training": True}, "set 'cache_fc_features' to false")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(finetune_config(prepared, str(tmp_path / "bad"), **overrides)))
        failed = run_in_process("seen_pretraining/cnn_finetune.py", str(path))
        last = last_error_line(failed)
        assert failed.returncode == 2 and last.startswith("error: ") and words in last
        assert "Traceback" not in failed.stderr
        assert not os.path.exists(tmp_path / "bad")


@pytest.mark.slow
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


def test_small_cnn_learns_the_generated_seen_classes_from_scratch(seen_model):
    """The session's network (30 seen classes x 64 training images, 18 epochs from scratch, selected on seen-val
    loss; 0.73 / 0.73 per-class accuracy at epoch 18 when last run, 0.80 / 0.81 after 25, chance 0.033; 0.66 / 0.67
    after 25 epochs when every epoch repeated one epoch's batches). The shipped config, 30 epochs at batch 64, reaches
    0.72-0.89 over the study's networks (docs/finetuning.md)."""
    perf = json.load(open(os.path.join(seen_model["save_path"], "test_perf.json")))
    assert perf["val_acc"] >= 0.5, seen_model["finetune_stdout"][-2000:]
    assert perf["test_acc"] >= 0.5  # seen test images, never used for the selection


def test_the_feature_banks_augmented_views_are_passes_of_different_epochs():
    """`fc_feature_views` K > 1 caches K augmented passes over the training images for the epochs to use in turn;
    each pass starts the training pipeline at its own epoch (0..K-1), so the views hold other crops and flips (before,
    every pass restarted the same seeded stream and the K views were one)."""
    from types import SimpleNamespace

    from utils.feature_bank import FeatureBank
    passes = []

    def image_pass(sess, source, split, names, desc=None, epoch=0):
        passes.append((source, epoch))
        return [{"features": np.full((2, 3), len(passes), np.float32), "labels": np.zeros(2, np.int64)}]

    bank = FeatureBank.compute(SimpleNamespace(cfg=SimpleNamespace(fc_feature_views=3), image_pass=image_pass), None)
    assert passes[:3] == [("train", 0), ("train", 1), ("train", 2)]
    assert [bank.view("train", epoch)[0][0, 0] for epoch in (1, 2, 3, 4)] == [2, 3, 1, 2]  # in turn, by epoch
