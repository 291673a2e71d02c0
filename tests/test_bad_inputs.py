"""Bad input, stage by stage: one line naming the file and the fix, exit status 2, nothing half-written. The configs
are the shipped generated-data ones with one value broken (the checks run before any data is read)."""
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from helpers import ROOT, run_in_process, synth_config
from utils import datasets, fileio, importance_map, pipeline, splits
from utils.cli import UserError

SHIPPED = {
    "cnn_finetune": ("seen_pretraining/cnn_finetune.py",
                     "seen_pretraining/arg_configs/seen_finetune/SYNTH_small_cnn_seen_proposed_finetune.json"),
    "alpha_extraction": ("seen_pretraining/alpha_extraction.py", "seen_pretraining/arg_configs/alpha_extract/"
                         "SYNTH_small_cnn_finetuned_cnn_trainval_alpha_extract_config.json"),
    "mod2alpha": ("mod2alpha.py", "arg_configs/small_cnn_config_SYNTH.json"),
    "alpha2w": ("alpha2w.py", "arg_configs/small_cnn_config_SYNTH.json"),
}


def broken_config(tmp_path, stage, text_edit=None, **values):
    """The stage's shipped config with `values` changed (or its JSON text passed through `text_edit`)."""
    raw = fileio.read_json(os.path.join(ROOT, SHIPPED[stage][1]))
    raw.update(values)
    text = json.dumps(raw, indent=1)
    path = tmp_path / f"{stage}.json"
    path.write_bytes(text_edit(text) if text_edit else text.encode())
    return str(path)


@pytest.mark.parametrize("stage, values, text_edit, words", [
    ("mod2alpha", {}, lambda t: t.replace('"SYNTH"', '"SYNTH\xe9"').encode("latin-1"), "not UTF-8 text"),
    ("alpha2w", {"learning_rate": 12345.5}, lambda t: t.replace("12345.5", "NaN").encode(), "NaN is not a JSON"),
    ("alpha2w", {"reg_lambda": 12345.5}, lambda t: t.replace("12345.5", "1e999").encode(), "'reg_lambda' is inf"),
    ("cnn_finetune", {"batch_size": 0}, None, "'batch_size' is 0; it must be >= 1"),
    ("alpha_extraction", {"batch_size": 0}, None, "'batch_size' is 0; it must be >= 1"),
    ("mod2alpha", {"num_epochs": 0}, None, "'num_epochs' is 0; it must be >= 1"),
    ("alpha2w", {"n_probe_images": 0}, None, "'n_probe_images' is 0; it must be >= 1"),
    ("mod2alpha", {"learning_rate": -0.001}, None, "'learning_rate' is -0.001; it must be > 0"),
    ("alpha2w", {"learning_rate": -0.001}, None, "'learning_rate' is -0.001; it must be > 0"),
    ("alpha2w", {"eps_perc": -0.01}, None, "'eps_perc' is -0.01; it must be in [0, 1)"),
    ("cnn_finetune", {"dropout": 1.5}, None, "'dropout' is 1.5; it must be in (0, 1]"),
    ("cnn_finetune", {"lr_fc": 0}, None, "'lr_fc' is 0; it must be > 0"),
    ("alpha_extraction", {"n_gradcam": -1}, None, "'n_gradcam' is -1; it must be >= 0"),
    ("cnn_finetune", {"distribute": "multi_worker_mirrored"}, None, "'multi_worker_mirrored' needs TF_CONFIG"),
    ("alpha_extraction", {"distribute": "multi_worker_mirrored"}, None, "'multi_worker_mirrored' needs TF_CONFIG"),
    ("alpha2w", {"ckpt": "old"}, None, "'ckpt' \"old\" takes the variables that ckpt_path lacks from 'orig_ckpt_path'"),
])
def test_bad_config_values_are_one_line_naming_the_file_and_key(tmp_path, stage, values, text_edit, words):
    path = broken_config(tmp_path, stage, text_edit, **values)
    failed = run_in_process(SHIPPED[stage][0], path)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and words in lines[0], lines


def test_a_stage_command_prints_no_tensorflow_start_up_lines(tmp_path):
    """A whole interpreter start, TensorFlow import included: the only line on stderr is the stage's own error."""
    path = broken_config(tmp_path, "alpha2w", batch_size=0)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "alpha2w.py"), path], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == f"error: {path}: key 'batch_size' is 0; it must be >= 1\n"


@pytest.fixture(scope="module")
def prepared_small(small_synth, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("prepared") / "synth")
    datasets.prepare(synth_config(small_synth, out))
    return splits.load_prepared(out)


def test_class_attributes_with_nan_stop_mod2alpha_before_it_writes(prepared_small, tmp_path):
    attributes = prepared_small.attributes.copy()
    attributes[4, 2] = np.nan
    np.save(tmp_path / "attributes.npy", attributes)
    config = broken_config(tmp_path, "mod2alpha", prepared_dir=prepared_small.folder,
                           classattrdir=str(tmp_path / "attributes.npy"), dom2alpha_ckpt_dir=str(tmp_path / "out"))
    failed = run_in_process("mod2alpha.py", config)
    assert failed.returncode == 2
    assert failed.stderr.strip() == (f"error: {tmp_path / 'attributes.npy'}: 1 values are NaN or infinite (first in "
                                     "row 4); every class needs a complete domain vector (fix the file or "
                                     "'classattrdir')")
    assert not (tmp_path / "out").exists()


def test_non_finite_alphas_and_unreadable_arrays_are_one_line_errors(prepared_small, tmp_path):
    alphas = np.ones((len(prepared_small.seen_ids), 4))
    alphas[1, 3] = np.inf
    np.save(tmp_path / "gt_alphas.npy", alphas)
    np.save(tmp_path / "class_ids.npy", np.array(prepared_small.seen_ids))
    cfg = types.SimpleNamespace(alphadir=str(tmp_path), n_alphas=4, prepared_dir=prepared_small.folder)
    (tmp_path / "alphas.json").write_text("{}")
    with pytest.raises(UserError, match=r"gt_alphas.npy: 1 values are NaN or infinite \(first in row 1\); redo "):
        importance_map.load_alphas(cfg, prepared_small, "cfg.json")
    (tmp_path / "gt_alphas.npy").write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(UserError, match=r"gt_alphas.npy: not a readable .npy array \(ValueError\); redo "
                                        "alpha_extraction.py"):
        importance_map.load_alphas(cfg, prepared_small, "cfg.json")


def test_leftovers_of_a_killed_run_are_removed_and_a_live_runs_are_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f".out.tmp-{dead_pid}-abc").mkdir()
    (tmp_path / f".out.tmp-{dead_pid}-abc" / "half.npy").write_bytes(b"")
    (tmp_path / f".out.tmp-{dead_pid}-def.old").mkdir()
    (tmp_path / f".results.json.tmp-{dead_pid}-xyz.json").write_text("{")
    (tmp_path / f".out.tmp-{os.getppid()}-live").mkdir()  # a running process's: not ours to remove
    with fileio.atomic_dir(str(tmp_path / "out")) as out:
        fileio.write_json(os.path.join(out, "results.json"), {"ok": 1})
    fileio.write_json(str(tmp_path / "results.json"), {"ok": 2})
    assert sorted(os.listdir(tmp_path)) == sorted([f".out.tmp-{os.getppid()}-live", "out", "results.json"])
    assert fileio.read_json(str(tmp_path / "out" / "results.json")) == {"ok": 1}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_outputs_get_the_modes_the_umask_gives_an_ordinary_file_or_folder(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with fileio.atomic_dir(str(tmp_path / "out")) as out:
            fileio.write_json(os.path.join(out, "results.json"), {"ok": 1})
            fileio.write_npy(os.path.join(out, "class_alphas.npy"), np.zeros(3))
        with open(tmp_path / "plain.txt", "w") as plain:
            plain.write("as open() makes it")
        os.mkdir(tmp_path / "plain")
    finally:
        os.umask(previous)
    mode = lambda path: os.stat(path).st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "out") == mode(tmp_path / "plain") == 0o777 & ~umask
    for name in ("results.json", "class_alphas.npy"):
        assert mode(tmp_path / "out" / name) == mode(tmp_path / "plain.txt") == 0o666 & ~umask, name


def test_a_pipeline_table_that_is_not_one_and_an_unwritable_output_folder_are_one_line_errors(tmp_path,
                                                                                              monkeypatch):
    (tmp_path / "table.json").write_text("{}")
    with pytest.raises(UserError, match=r"table.json: not a pipeline table \(it needs a \"datasets\""):
        pipeline.load_table(str(tmp_path / "table.json"))

    def refused(*args, **kwargs):  # what a folder the user cannot write answers (root writes anywhere)
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(fileio.tempfile, "mkstemp", refused)
    monkeypatch.setattr(fileio.tempfile, "mkdtemp", refused)
    with pytest.raises(UserError, match="out/configs: cannot write there \\(permission denied\\)"):
        fileio.write_json(str(tmp_path / "out" / "configs" / "a.json"), {})
    with pytest.raises(UserError, match="out: cannot write there"):
        with fileio.atomic_dir(str(tmp_path / "out" / "alpha2w")):
            pass


def test_truncated_or_foreign_npz_files_are_one_line_errors_naming_the_stage_that_writes_them(tmp_path):
    np.savez(tmp_path / "features.npz", a=np.arange(1000.0))
    assert fileio.read_npz(str(tmp_path / "features.npz"), "alpha2w.py")["a"][-1] == 999.0
    data = (tmp_path / "features.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[:len(data) // 2])
    (tmp_path / "text.npz").write_text("not an archive")
    for name in ("truncated.npz", "text.npz"):
        with pytest.raises(UserError, match=rf"{name}: not a readable .npz archive \(\w+\); redo alpha2w.py"):
            fileio.read_npz(str(tmp_path / name), "alpha2w.py")


@pytest.mark.parametrize("name, damage, words", [
    ("classes.json", b'{"seen": [1, 2', r"not a readable JSON file \(JSONDecodeError\)"),
    ("classes.json", b'{"seen": [1], "classes": []}',
     r"has no 'unseen' \(written by another version or another stage\?\)"),
    ("split_info.json", b"\xff\xfe binary", r"not a readable JSON file \(UnicodeDecodeError\)"),
    ("class_attributes.npy", b"\x93NUMPY cut", r"not a readable .npy array \(ValueError\)"),
    ("seen_train.txt", b"\xff\xfe\x00 binary", r"not a readable image list \(UnicodeDecodeError\)"),
    ("attribute_names.txt", b"\xff\xfe\x00", r"not a readable list of names \(UnicodeDecodeError\)"),
])
def test_a_damaged_prepared_folder_is_a_one_line_error_naming_the_file_and_the_preparation(
        prepared_small, tmp_path, name, damage, words):
    """The prepared folder has one reader per kind (JSON record, array, list): each names its file and the fix."""
    import shutil
    folder = tmp_path / "prepared"
    shutil.copytree(prepared_small.folder, folder)
    (folder / name).write_bytes(damage)
    with pytest.raises(UserError, match=rf"^{folder / name}: {words}; (redo|run) the preparation step \(python -m "
                                        r"utils.prepare_data "):
        splits.load_prepared(str(folder))


def test_a_stage_record_that_is_cut_short_or_lacks_a_field_names_the_stage_that_writes_it(tmp_path):
    path = tmp_path / "mod2alpha.json"
    path.write_text('{"train_class_ids": [1, 2], "val_class_ids": [3]}')
    assert fileio.read_json(str(path), "mod2alpha.py", ("train_class_ids", "val_class_ids"))["val_class_ids"] == [3]
    with pytest.raises(UserError, match=r"mod2alpha.json: has no 'class_ids' \(written by another version or another "
                                        r"stage\?\); redo mod2alpha.py$"):
        fileio.read_json(str(path), "mod2alpha.py", ("train_class_ids", "class_ids"))
    path.write_text('{"train_class_ids": [1, 2], "val_cl')
    with pytest.raises(UserError, match=r"mod2alpha.json: not a readable JSON file \(JSONDecodeError\); redo "
                                        r"mod2alpha.py$"):
        fileio.read_json(str(path), "mod2alpha.py")
    with pytest.raises(UserError, match=r"absent.json: not found; run alpha2w.py first$"):
        fileio.read_json(str(tmp_path / "absent.json"), "alpha2w.py")


def test_an_image_list_naming_a_folder_is_a_one_line_error_naming_it(tmp_path):
    from PIL import Image
    from utils import input_pipeline
    from utils.tf_compat import tf, tf1
    Image.new("RGB", (8, 8)).save(tmp_path / "good.jpg")
    (tmp_path / "a_folder").mkdir()
    paths = [str(tmp_path / "good.jpg"), str(tmp_path / "a_folder")]
    with tf.Graph().as_default():
        images = tf1.data.make_one_shot_iterator(input_pipeline.eval_images(
            tf.constant(paths), preprocessing_name="small_cnn_preprocessing", image_size=8, batch_size=1)).get_next()
        with tf1.Session() as sess, pytest.raises(UserError, match=r"a_folder: cannot be read as an image"):
            with input_pipeline.naming_bad_images(paths):
                for _ in paths:
                    sess.run(images)


@pytest.mark.parametrize("part", ["index", "data-00000-of-00001"])
def test_a_truncated_checkpoint_is_a_one_line_error_for_every_reader(tmp_path, part):
    """alpha2w reads the seen head through a reader and every stage restores through restore_fn: one guard."""
    from utils import checkpoints, unseen_head
    from utils.tf_compat import slim, tf, tf1
    with tf.Graph().as_default():
        with tf1.variable_scope("net"):
            slim.model_variable("logits/weights", initializer=tf.ones([64, 300]))
            slim.model_variable("logits/biases", initializer=tf.zeros([300]))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = tf1.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
    assert unseen_head.seen_head(prefix, "net/logits", 300)[0].shape == (64, 300)
    path = tmp_path / f"model.ckpt.{part}"
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with tf.Graph().as_default():
        with tf1.variable_scope("net"):
            slim.model_variable("logits/weights", shape=[64, 300])
            slim.model_variable("logits/biases", shape=[300])
        with pytest.raises(UserError, match=r"model.ckpt: not a readable TensorFlow checkpoint"):
            restore = checkpoints.restore_fn(prefix)
            with tf1.Session() as sess:
                restore(sess)
    with pytest.raises(UserError, match=r"model.ckpt: not a readable TensorFlow checkpoint"):
        unseen_head.seen_head(prefix, "net/logits", 300)


def test_scripts_outside_the_root_import_their_own_checkouts_modules_whatever_the_path_holds(tmp_path):
    """A venv made in another checkout (or any path entry) offers another `utils`: the scripts never take it."""
    decoy = tmp_path / "other_checkout" / "utils"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the other checkout')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "other_checkout")}
    for script in ("seen_pretraining/cnn_finetune.py", "benchmarks/reproducibility.py"):
        done = subprocess.run([sys.executable, os.path.join(ROOT, script), "--help"], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert done.returncode == 0 and "the other checkout" not in done.stderr, (script, done.stderr[-500:])
