"""alpha_extraction.py on the finetuned generated-data network: outputs, their consistency, and bad inputs."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, last_error_line, run_script, run_workers
from utils import metrics, splits

STAGE = "seen_pretraining/alpha_extraction.py"


def extract_config(seen_alphas, save_path, **overrides):
    return {**seen_alphas, "save_path": save_path, **overrides}


def run_extraction(tmp_path, cfg):
    path = tmp_path / f"extract_{len(os.listdir(tmp_path))}.json"
    path.write_text(json.dumps(cfg))
    return run_script(STAGE, str(path))


@pytest.fixture(scope="module")
def extracted(seen_alphas):
    return seen_alphas["save_path"]


def load(save_path):
    meta = json.load(open(os.path.join(save_path, "alphas.json")))
    arrays = {k: np.load(os.path.join(save_path, f)) for k, f in meta["files"].items() if f.endswith(".npy")}
    with open(os.path.join(save_path, meta["files"]["images"])) as f:
        arrays["images"] = f.read().splitlines()
    return meta, arrays


def test_alphas_cover_every_seen_trainval_image_in_list_order(seen_model, extracted):
    meta, arrays = load(extracted)
    prepared = splits.load_prepared(seen_model["prepared"])
    train, val = prepared.lists["seen_train"], prepared.lists["seen_val"]
    n = len(train.paths) + len(val.paths)
    assert arrays["gt_alphas"].shape == arrays["pred_alphas"].shape == (n, 128) == (meta["n_images"], meta["n_alphas"])
    assert arrays["gt_alphas"].dtype == np.float32 and np.isfinite(arrays["gt_alphas"]).all()
    assert arrays["images"] == [os.path.abspath(p) for p in train.paths + val.paths]
    np.testing.assert_array_equal(arrays["labels"], np.concatenate([train.labels, val.labels]))
    np.testing.assert_array_equal(arrays["class_ids"], np.array(prepared.seen_ids)[arrays["labels"]])
    assert meta["layer_shape"] == [8, 8, 128] and meta["seen_class_ids"] == prepared.seen_ids
    assert meta["per_class_accuracy"] == metrics.per_class_accuracy(arrays["labels"], arrays["predictions"]) > 0.5
    assert len(os.listdir(os.path.join(extracted, "gradcam"))) == 5


def test_gt_and_predicted_alphas_agree_exactly_where_the_prediction_is_right(extracted):
    _, arrays = load(extracted)
    right = arrays["labels"] == arrays["predictions"]
    assert 0 < right.sum() < len(right)
    np.testing.assert_array_equal(arrays["gt_alphas"][right], arrays["pred_alphas"][right])
    assert np.abs(arrays["gt_alphas"][~right] - arrays["pred_alphas"][~right]).max() > 1e-3


def test_alphas_of_one_class_are_more_alike_than_alphas_of_different_classes(extracted):
    """The importances carry class information (what mod2alpha learns to predict from domain knowledge)."""
    _, arrays = load(extracted)
    unit = arrays["gt_alphas"] / np.linalg.norm(arrays["gt_alphas"], axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = arrays["labels"][:, None] == arrays["labels"][None, :]
    np.fill_diagonal(same, False)
    different = arrays["labels"][:, None] != arrays["labels"][None, :]
    assert cosine[same].mean() > cosine[different].mean() + 0.2


def test_batch_size_does_not_change_the_alphas(extracted, tmp_path, seen_alphas):
    """Each image's gradient is its own: the same importances come out in batches of 7 as in batches of 64."""
    save_path = str(tmp_path / "batch7")
    done = run_extraction(tmp_path, extract_config(seen_alphas, save_path, batch_size=7, n_gradcam=0))
    assert done.returncode == 0, done.stderr[-3000:]
    _, small = load(save_path)
    _, large = load(extracted)
    np.testing.assert_allclose(small["gt_alphas"], large["gt_alphas"], rtol=1e-4, atol=1e-6)


def seen_val_config(tmp_path, seen_alphas, name, **overrides):
    """A config over the seen_val images only (the tail of the one-device run's list), batches of 63, in
    tmp_path/<name>.json, writing to tmp_path/<name>: (config path, save path)."""
    save_path, path = str(tmp_path / name), tmp_path / f"{name}.json"
    seen_val = seen_alphas["dataset_json"].split(",")[1]
    path.write_text(json.dumps(extract_config(seen_alphas, save_path, batch_size=63, dataset_json=seen_val,
                                              **overrides)))
    return path, save_path


def assert_the_one_device_tail(save_path, extracted):
    """Every image's importances and prediction as in the one-device run, in order; returns (alphas.json, count)."""
    meta, replicated = load(save_path)
    _, single = load(extracted)
    tail = len(replicated["labels"])
    assert 0 < tail < len(single["labels"])
    for key in ("gt_alphas", "pred_alphas"):
        np.testing.assert_allclose(replicated[key], single[key][-tail:], rtol=1e-4, atol=1e-6)
    for key in ("labels", "predictions", "images"):
        assert np.array_equal(replicated[key], single[key][-tail:]), key
    return meta, tail


def test_two_replicas_give_the_same_alphas_as_one_device(extracted, tmp_path, seen_alphas):
    """MirroredStrategy over 2 logical CPU devices (a fresh process: devices are split before TensorFlow starts):
    global batches of 63 split 32 / 31, every image's importances and prediction as on one device, in order (the
    seen_val images: the tail of the one-device run's list)."""
    path, save_path = seen_val_config(tmp_path, seen_alphas, "mirrored", distribute="mirrored")
    done = subprocess.run([sys.executable, os.path.join(ROOT, STAGE), str(path), "--cpu-devices", "2"],
                          capture_output=True, text=True, cwd=os.path.join(ROOT, "seen_pretraining"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mirrored over 2 replicas" in done.stdout
    meta, _ = assert_the_one_device_tail(save_path, extracted)
    assert meta["config"]["distribute"] == "mirrored" and len(os.listdir(os.path.join(save_path, "gradcam"))) == 5


def test_two_workers_give_the_same_alphas_as_one_device_and_only_the_chief_writes(extracted, tmp_path, seen_alphas):
    """MultiWorkerMirroredStrategy over two worker processes (TF_CONFIG, localhost): batches of 63 split 32 / 31
    across the workers and gathered back in order, every image's importances and prediction as on one device; the
    chief writes the outputs, the other worker leaves nothing behind."""
    path, save_path = seen_val_config(tmp_path, seen_alphas, "workers", n_gradcam=2,
                                      distribute="multi_worker_mirrored")
    chief, worker = run_workers(STAGE, path)
    assert chief.returncode == 0 and worker.returncode == 0, chief.stderr[-3000:] + worker.stderr[-3000:]
    assert "multi_worker_mirrored over 2 replicas" in chief.stdout
    _, tail = assert_the_one_device_tail(save_path, extracted)
    assert tail > 63 and tail % 63  # several batches, the last one uneven
    assert len(os.listdir(os.path.join(save_path, "gradcam"))) == 2
    assert sorted(os.listdir(tmp_path)) == ["workers", "workers.json"]


def released_order_copy(checkpoint, out, logits_scope, order):
    """A copy of `checkpoint` whose logit j scores the class of the original logit order[j]: a network saved the
    way the original's released ones are, in another class order than the prepared one."""
    from utils.tf_compat import tf, tf1
    reader = tf.train.load_checkpoint(checkpoint)
    with tf.Graph().as_default():
        variables = [tf1.Variable(value[..., order] if name.startswith(f"{logits_scope}/") else value, name=name)
                     for name, value in ((n, reader.get_tensor(n)) for n in reader.get_variable_to_shape_map())]
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver(variables).save(sess, out, write_meta_graph=False)
    return out


def test_a_network_in_the_originals_class_order_gives_the_same_alphas_through_seen_class_order(
        seen_model, extracted, tmp_path, seen_alphas):
    """The original's released networks score the seen classes in its split file's train_cid order:
    `seen_class_order` reads the ground-truth and predicted logits through it, so such a network gives the alphas and
    predictions of the same network in the prepared order; without it, every label picks another class's logit."""
    seen_ids = json.load(open(os.path.join(seen_model["prepared"], "classes.json")))["seen"]
    order = np.random.default_rng(0).permutation(len(seen_ids))
    released = released_order_copy(seen_alphas["ckpt_path"], str(tmp_path / "released.ckpt"), "small_cnn/logits",
                                   order)
    train_cid = [seen_ids[i] for i in order]
    path, save_path = seen_val_config(tmp_path, seen_alphas, "ordered", ckpt_path=released,
                                      seen_class_order=train_cid, n_gradcam=0)
    done = run_script(STAGE, str(path))
    assert done.returncode == 0, done.stderr[-3000:]
    meta, _ = assert_the_one_device_tail(save_path, extracted)
    assert meta["config"]["seen_class_order"] == train_cid
    path, save_path = seen_val_config(tmp_path, seen_alphas, "unordered", ckpt_path=released, n_gradcam=0)
    assert run_script(STAGE, str(path)).returncode == 0
    _, unordered = load(save_path)
    _, single = load(extracted)
    tail = len(unordered["labels"])
    assert np.abs(unordered["gt_alphas"] - single["gt_alphas"][-tail:]).max() > 1e-3
    assert metrics.per_class_accuracy(unordered["labels"], unordered["predictions"]) < 0.2
    path, save_path = seen_val_config(tmp_path, seen_alphas, "wrong", ckpt_path=released,
                                      seen_class_order=train_cid[1:])
    failed = run_script(STAGE, str(path))
    assert failed.returncode == 2 and last_error_line(failed).endswith(
        f"'seen_class_order': lists {len(seen_ids) - 1} classes, not the {len(seen_ids)} seen classes of "
        f"{seen_alphas['class_idmaps_json']}; it must name each seen class once")
    assert not os.path.exists(save_path)


def test_grayscale_cmyk_and_png_images_extract(seen_model, tmp_path, seen_alphas):
    """A prepared list whose images are a grayscale JPEG, a CMYK JPEG and a PNG with alpha."""
    prepared = tmp_path / "prepared"
    (prepared / "images").mkdir(parents=True)
    shutil.copy(os.path.join(seen_model["prepared"], "classes.json"), prepared)
    (prepared / "split_info.json").write_text(json.dumps({"image_dir": "images"}))
    source = splits.load_list(os.path.join(seen_model["prepared"], "seen_val.txt")).paths[:3]
    rgb = [Image.open(p).convert("RGB") for p in source]
    rgb[0].convert("L").save(prepared / "images" / "gray.jpg")
    rgb[1].convert("CMYK").save(prepared / "images" / "cmyk.jpg")
    rgb[2].convert("RGBA").save(prepared / "images" / "rgba.png")
    (prepared / "seen_train.txt").write_text("gray.jpg 0\ncmyk.jpg 1\nrgba.png 2\n")
    assert Image.open(prepared / "images" / "cmyk.jpg").mode == "CMYK"
    save_path = str(tmp_path / "alphas")
    done = run_extraction(tmp_path, extract_config(seen_alphas, save_path, dataset_json=f"{prepared}/seen_train.txt",
                                                   class_idmaps_json=f"{prepared}/classes.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    meta, arrays = load(save_path)
    assert arrays["gt_alphas"].shape == (3, 128) and np.isfinite(arrays["gt_alphas"]).all()
    assert np.abs(arrays["gt_alphas"]).sum(axis=1).min() > 0
    assert len(os.listdir(os.path.join(save_path, "gradcam"))) == 3


def test_a_corrupt_image_fails_naming_the_file_and_writes_nothing(seen_model, tmp_path, seen_alphas):
    prepared = tmp_path / "prepared"
    shutil.copytree(seen_model["prepared"], prepared)
    info = json.loads((prepared / "split_info.json").read_text())
    info["image_dir"] = os.path.join(seen_model["prepared"], info["image_dir"])  # the images stay where they are
    (prepared / "split_info.json").write_text(json.dumps(info))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    lines = (prepared / "seen_val.txt").read_text().splitlines()
    lines[3] = f"{broken} {lines[3].split()[-1]}"  # an absolute path joins to itself
    (prepared / "seen_val.txt").write_text("\n".join(lines) + "\n")
    save_path = tmp_path / "alphas"
    failed = run_extraction(tmp_path, extract_config(
        seen_alphas, str(save_path), class_idmaps_json=f"{prepared}/classes.json",
        dataset_json=f"{prepared}/seen_train.txt,{prepared}/seen_val.txt"))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert last_error_line(failed).startswith(f"error: {broken}: cannot be read as an image")
    assert not save_path.exists()


@pytest.mark.parametrize("overrides, words", [
    ({"layer_name": "small_cnn/conv9"}, "'layer_name' 'small_cnn/conv9' is not an end point of small_cnn"),
    ({"num_classes": 12}, "'num_classes' is 12, but it is 30"),
    ({"bypass_name": "Max2Sum"}, "'bypass_name' 'Max2Sum' is unknown"),
    ({"scope": "vgg_arg_scope"}, "'scope' is \"vgg_arg_scope\", but it is \"small_cnn_arg_scope\" from"),
    ({"ckpt_path": "/nonexistent/model.ckpt"}, "checkpoint not found"),
    ({"n_gradcam": "5"}, "key 'n_gradcam' must be an integer"),
])
def test_bad_configs_fail_with_one_line(tmp_path, overrides, words, seen_alphas):
    save_path = tmp_path / "alphas"
    failed = run_extraction(tmp_path, extract_config(seen_alphas, str(save_path), **overrides))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert last_error_line(failed).startswith("error: ") and words in last_error_line(failed)
    assert not save_path.exists()


def test_class_list_of_another_dataset_is_rejected(tmp_path, seen_alphas):
    other = tmp_path / "classes.txt"
    other.write_text("".join(f"{i} {i:03d}.Some_Bird\n" for i in range(1, 17)))
    failed = run_extraction(tmp_path, extract_config(seen_alphas, str(tmp_path / "alphas"), class_list_f=str(other)))
    assert failed.returncode == 2 and "both must describe the same dataset" in last_error_line(failed)
