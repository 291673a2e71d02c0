"""mod2alpha.py: domain vectors -> alphas on the generated dataset; the class-level objective; readers; bad input."""
import dataclasses
import json
import os
import types

import numpy as np
import pytest
import scipy.io

from helpers import ROOT, experiment_config, last_error_line, run_script
from utils import domain_vectors, importance_map, splits, step_log, text2alpha
from utils import experiment as experiment_module
from utils.cli import UserError
from utils.tf_compat import tf, tf1

N_TRAIN_CLASS = 24  # of the fixture's 30 seen classes; the other 6 validate


def experiment(seen_model, seen_alphas, out, **overrides):
    return experiment_config(seen_model, seen_alphas, out.parent, **{"n_train_class": N_TRAIN_CLASS,
                                                                     "dom2alpha_ckpt_dir": str(out), **overrides})


def run_mod2alpha(tmp_path, cfg, *flags):
    path = tmp_path / f"experiment_{len(list(tmp_path.glob('experiment_*')))}.json"
    path.write_text(json.dumps(cfg))
    return run_script("mod2alpha.py", *flags, str(path))


def trained(tmp_path, cfg, *flags):
    done = run_mod2alpha(tmp_path, cfg, *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.load(open(os.path.join(cfg["dom2alpha_ckpt_dir"], "mod2alpha.json")))


def shuffled_attributes(seen_model, tmp_path):
    """The same attribute rows given to other classes (a cyclic shift: no class keeps its own)."""
    table = np.load(os.path.join(seen_model["prepared"], "class_attributes.npy"))
    path = tmp_path / "shuffled_attributes.npy"
    np.save(path, np.roll(table, 1, axis=0))
    return str(path)


def shuffled_texts(seen_model, tmp_path):
    """Each class's caption folder under another class's name (a cyclic shift)."""
    source = os.path.join(seen_model["data"], "text_c10")
    names = sorted(os.listdir(source))
    target = tmp_path / "shuffled_text"
    target.mkdir()
    for name, other in zip(names, np.roll(names, 1)):
        os.symlink(os.path.join(source, other), target / name)
    return str(target)


def test_attributes_map_generalises_to_held_out_classes_and_shuffled_attributes_do_not(seen_model, seen_alphas,
                                                                                       tmp_path):
    real = trained(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "real"))
    control = trained(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "control",
                                           classattrdir=shuffled_attributes(seen_model, tmp_path)))
    assert real["best"]["val_cosine"] > control["best"]["val_cosine"] + 0.15
    assert real["best"]["val_spearman"] > control["best"]["val_spearman"] + 0.15
    assert real["ridge"]["cosine"] > control["ridge"]["cosine"] + 0.15  # the closed-form baseline agrees


def test_free_text_map_generalises_and_shuffled_texts_do_not(seen_model, seen_alphas, tmp_path):
    text = {"modality": "captions", "caption_format": "text", "classattrdir": None, "n_attr": 48}
    real = trained(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "real", **text,
                                        attrdir=os.path.join(seen_model["data"], "text_c10")))
    control = trained(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "control", **text,
                                           attrdir=shuffled_texts(seen_model, tmp_path)))
    assert real["best"]["val_cosine"] > control["best"]["val_cosine"] + 0.15


@pytest.fixture(scope="module")
def maps(seen_model, seen_alphas, tmp_path_factory):
    """Two 30-epoch runs, shared by the tests below: "default" and "original" (the map of the chosen epoch, not
    trained again, and alpha2w reading it: `refit_all_seen` false, `class_alphas_from` "trained"). name -> (folder,
    mod2alpha.json)."""
    root = tmp_path_factory.mktemp("maps")
    runs = {"default": {}, "original": {"refit_all_seen": False, "class_alphas_from": "trained"}}
    return {name: (root / name, trained(root, experiment(seen_model, seen_alphas, root / name, num_epochs=30,
                                                         **overrides))) for name, overrides in runs.items()}


def test_outputs_give_every_class_an_alpha_and_keep_the_best_val_epoch(seen_model, maps):
    out, meta = maps["default"]
    prepared = splits.load_prepared(seen_model["prepared"])
    class_alphas = np.load(out / "class_alphas.npy")
    assert class_alphas.shape == (40, 128) and class_alphas.dtype == np.float32
    assert meta["class_alphas_from"] == "ridge"  # the default: alpha2w reads the ridge map's alphas
    np.testing.assert_array_equal(class_alphas, np.load(out / "class_alphas_ridge.npy"))
    assert np.load(out / "class_alphas_trained.npy").shape == (40, 128)
    switched_out, switched = maps["original"]
    assert switched["class_alphas_from"] == "trained" and switched["best"] == meta["best"]
    np.testing.assert_array_equal(np.load(switched_out / "class_alphas.npy"),
                                  np.load(switched_out / "class_alphas_trained.npy"))
    assert meta["class_ids"] == prepared.class_ids and meta["unseen_ids"] == prepared.unseen_ids
    assert sorted(meta["train_class_ids"] + meta["val_class_ids"]) == sorted(prepared.seen_ids)
    assert len(meta["train_class_ids"]) == N_TRAIN_CLASS and meta["objective"] == "class-level"
    assert meta["best"]["val_loss"] == min(row["val_loss"] for row in meta["history"]) < meta["initial_val"]["loss"]
    assert meta["best"]["val_cosine"] <= meta["val_oracle_cosine"]
    assert os.path.isfile(out / "model.ckpt.index") and os.path.isfile(out / "curves.png")


def predictions_of_checkpoint(meta, folder):
    """Every class's alphas as the linear map saved in `folder`/model.ckpt predicts them from the domain vectors of
    the run that wrote `meta` (its mod2alpha.json)."""
    cfg = experiment_module.load(meta["config_path"], "mod2alpha")
    prepared = splits.load_prepared(cfg.prepared_dir)
    table = domain_vectors.class_vectors(cfg, prepared.class_ids, prepared.class_names)
    reader = tf1.train.load_checkpoint(str(folder / "model.ckpt"))
    return table @ reader.get_tensor("dom2alpha/weights") + reader.get_tensor("dom2alpha/biases")


def test_the_map_is_trained_again_on_every_seen_class_for_the_chosen_epochs_and_the_switch_keeps_the_originals(
        seen_model, seen_alphas, maps):
    (refit_out, refit), (original_out, original) = maps["default"], maps["original"]
    folders = {"refit": refit_out, "original": original_out}
    assert refit["history"] == original["history"] and refit["best"] == original["best"]  # the same choice
    n_images = len(np.load(os.path.join(seen_alphas["save_path"], "labels.npy")))
    assert refit["refit_all_seen"]["classes"] == 30 and refit["refit_all_seen"]["images"] == n_images
    assert refit["refit_all_seen"]["epochs"] == refit["best"]["epoch"] and original["refit_all_seen"] is None
    alphas = {name: np.load(folder / "class_alphas_trained.npy") for name, folder in folders.items()}
    for name in alphas:  # the checkpoint is the map whose alphas are written
        meta = refit if name == "refit" else original
        np.testing.assert_allclose(alphas[name], predictions_of_checkpoint(meta, folders[name]), atol=1e-4)
    # the val classes chose the epoch; the refit map has then learned them too, the original's has not
    prepared = splits.load_prepared(seen_model["prepared"])
    labels = np.load(os.path.join(seen_alphas["save_path"], "class_ids.npy"))
    in_val = np.isin(labels, refit["val_class_ids"])
    val = importance_map.AlphaTargets.build(np.array([prepared.class_ids.index(c) for c in labels[in_val]]),
                                            np.load(os.path.join(seen_alphas["save_path"], "gt_alphas.npy"))[in_val])
    cosine = {name: importance_map.agreement(a, val)["cosine"] for name, a in alphas.items()}
    assert cosine["original"] == pytest.approx(original["best"]["val_cosine"], abs=1e-3)
    assert cosine["refit"] > cosine["original"] + 0.1
    ridge = {name: np.load(folder / "class_alphas_ridge.npy") for name, folder in folders.items()}
    assert not np.allclose(ridge["refit"], ridge["original"])


def save_like_the_original(path, model, layers):
    """A text2alpha checkpoint built as the original's mod2alpha.py builds and saves it: the global step, the map's
    variables under their default names (linear: two bare tf.Variable; deeper maps: fully_connected layers), Adam's
    slots from one training step, every variable saved. `layers`: [(weights, biases)], input layer first."""
    from utils.tf_compat import slim
    with tf.Graph().as_default():
        tf1.Variable(0, trainable=False, name="global_step", dtype=tf.int32)
        text = tf1.placeholder(tf.float32, [None, layers[0][0].shape[0]])
        if model == "linear":
            weights, biases = tf1.Variable(layers[0][0]), tf1.Variable(layers[0][1])
            out = tf.add(tf.matmul(text, weights), biases)
        else:
            out = text
            for depth, (weights, biases) in enumerate(layers):
                out = slim.fully_connected(out, weights.shape[1], weights_initializer=tf1.constant_initializer(weights),
                                           biases_initializer=tf1.constant_initializer(biases),
                                           activation_fn=tf.nn.relu if depth < len(layers) - 1 else None)
        train_op = tf1.train.AdamOptimizer(0.0).minimize(tf.reduce_mean(out))  # a step that moves nothing
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            names = sorted(v.op.name for v in tf1.global_variables())
            sess.run(train_op, {text: np.zeros((1, layers[0][0].shape[0]))})  # the slots exist, as after training
            tf1.train.Saver().save(sess, str(path))
    return names


@pytest.mark.parametrize("model, widths", [("linear", [7, 5]), ("2layer", [7, 6, 5]), ("multilayer", [7, 6, 4, 5])])
def test_a_released_map_of_the_original_is_read_by_its_variable_names(tmp_path, model, widths):
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
              for a, b in zip(widths, widths[1:])]
    names = save_like_the_original(tmp_path / "t2a.ckpt", model, layers)
    expected_names = {"linear": ["Variable", "Variable_1"], "2layer": ["fully_connected", "fully_connected_1"],
                      "multilayer": ["fully_connected", "fully_connected_1", "fully_connected_2"]}[model]
    assert all(any(n == e or n.startswith(e + "/") for n in names) for e in expected_names) and "global_step" in names
    vectors = rng.normal(size=(9, widths[0]))
    expected = vectors
    for depth, (weights, biases) in enumerate(layers):
        expected = expected @ weights + biases
        expected = np.maximum(expected, 0) if depth < len(layers) - 1 else expected
    np.testing.assert_allclose(text2alpha.predict(str(tmp_path / "t2a.ckpt"), model, vectors, widths[-1]), expected,
                               rtol=1e-5, atol=1e-5)
    other = "multilayer" if model != "multilayer" else "linear"
    with pytest.raises(UserError, match=rf"t2a.ckpt: has no '[\w/]+', so it is not the original's text2alpha "
                                        rf"checkpoint of a {other} map"):
        text2alpha.predict(str(tmp_path / "t2a.ckpt"), other, vectors, widths[-1])
    with pytest.raises(UserError, match=r"receives 3-d inputs; the map was trained on other domain vectors"):
        text2alpha.predict(str(tmp_path / "t2a.ckpt"), model, vectors[:, :3], widths[-1])
    with pytest.raises(UserError, match=r"predicts 5 alphas but the alpha layer has 8 channels"):
        text2alpha.predict(str(tmp_path / "t2a.ckpt"), model, vectors, 8)
    with pytest.raises(UserError, match=r"absent.ckpt: not found; point 'text2alpha_ckpt' at a released map"):
        text2alpha.predict(str(tmp_path / "absent.ckpt"), model, vectors, 5)


def test_mod2alpha_predicts_with_a_map_saved_the_originals_way_as_the_trained_map_did(seen_model, seen_alphas, maps,
                                                                                    tmp_path):
    """The session's trained linear map, saved under the original's names, given as `text2alpha_ckpt`: mod2alpha
    predicts every class's alphas with it (the same alphas, to float32 rounding), trains nothing, and scores it on the
    same validation classes; alpha2w then reads them as it reads a trained map's. The ridge map beside it is refitted
    on every seen class as in a run that trains its map (`refit_all_seen`)."""
    # the chosen epoch's map itself (not trained again on every seen class), so that its val figures are comparable
    trained_dir, trained_meta = maps["original"]
    reader = tf1.train.load_checkpoint(str(trained_dir / "model.ckpt"))
    layers = [(reader.get_tensor("dom2alpha/weights"), reader.get_tensor("dom2alpha/biases"))]
    save_like_the_original(tmp_path / "released" / "mod_attributes_2alpha.ckpt", "linear", layers)
    released = trained(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "from_release", num_epochs=30,
                                            text2alpha_ckpt=str(tmp_path / "released" / "mod_attributes_2alpha.ckpt")))
    np.testing.assert_allclose(np.load(tmp_path / "from_release" / "class_alphas.npy"),
                               np.load(trained_dir / "class_alphas_trained.npy"), rtol=1e-4, atol=1e-4)
    assert released["class_alphas_from"] == "trained"  # a released map given is the map alpha2w reads
    assert released["history"] == [] and released["objective"].startswith("a released map")
    assert abs(released["best"]["val_cosine"] - trained_meta["best"]["val_cosine"]) < 1e-4
    assert released["val_class_ids"] == trained_meta["val_class_ids"]
    assert not (tmp_path / "from_release" / "model.ckpt.index").exists()
    np.testing.assert_array_equal(np.load(tmp_path / "from_release" / "class_alphas_ridge.npy"),
                                  np.load(maps["default"][0] / "class_alphas_ridge.npy"))


def test_per_image_path_trains_the_l1_loss(seen_model, seen_alphas, tmp_path):
    """(Called with the original release's `--config_json` spelling.)"""
    meta = trained(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "l1", alpha_loss_type="l1",
                                        dom2alpha_model="2layer", n_hidden=32, num_epochs=20), "--config_json")
    assert meta["objective"] == "per-image"
    assert meta["best"]["val_loss"] < meta["initial_val"]["loss"]


def test_class_level_loss_equals_the_mean_per_image_cosine_distance():
    rng = np.random.default_rng(0)
    class_index = rng.integers(0, 5, 200)
    alphas = rng.normal(size=(200, 16)) + class_index[:, None] * 0.3
    targets = importance_map.AlphaTargets.build(class_index, alphas)
    predictions = rng.normal(size=(5, 16))
    unit = importance_map.unit_rows
    per_image = np.mean(np.sum(unit(predictions[class_index]) * unit(alphas), axis=1))
    cfg = type("Cfg", (), {"alpha_loss_type": "cd", "dom2alpha_lambda_reg": 0.0, "cdl1_reg": 1.0})
    with tf.Graph().as_default(), tf1.Session() as sess:
        class_level = sess.run(importance_map.class_level_cd_loss(tf.constant(predictions, tf.float32), targets))
        image_level = sess.run(importance_map.per_image_loss(tf.constant(predictions[class_index], tf.float32),
                                                             tf.constant(alphas, tf.float32), cfg))
    assert abs(class_level - (1 - per_image)) < 1e-5 and abs(image_level - (1 - per_image)) < 1e-5
    assert abs(importance_map.agreement(predictions, targets)["cosine"] - per_image) < 1e-12


def test_the_class_level_epoch_in_one_graph_loop_is_the_per_step_adam_loop():
    """Trainer's in-graph epoch against the same objective trained one session call a step: same step losses, same
    weights after two epochs, and it starts from the same initial weights."""
    mod2alpha = step_log.script_module(os.path.join(ROOT, "mod2alpha.py"))
    rng = np.random.default_rng(1)
    class_index = rng.integers(0, 6, 300)
    targets = importance_map.AlphaTargets.build(class_index, rng.normal(size=(300, 12)) + class_index[:, None] * 0.2)
    vectors = rng.normal(size=(6, 5))
    cfg = types.SimpleNamespace(class_level_loss=True, alpha_loss_type="cd", dom2alpha_lambda_reg=0.0,
                                dom2alpha_batch_size=64, random_seed=7, dom2alpha_model="linear", n_alphas=12,
                                learning_rate=0.01)
    trainer = mod2alpha.Trainer(cfg, vectors, targets, len(class_index))
    assert trainer.steps_per_epoch == 5
    with tf1.Session(graph=trainer.graph) as sess:
        sess.run(trainer.init)
        initial = sess.run(trainer.all_predictions)
        looped = [trainer.epoch(sess) for _ in range(2)]
        final = sess.run(trainer.all_predictions)
    with tf.Graph().as_default() as graph:  # the per-step form, from the same initial map
        weights = tf1.get_variable("w", initializer=np.linalg.lstsq(np.hstack([vectors, np.ones((6, 1))]), initial,
                                                                     rcond=None)[0].astype(np.float32))
        predictions = tf.matmul(tf.constant(np.hstack([vectors, np.ones((6, 1))]), tf.float32), weights)
        loss = importance_map.class_level_cd_loss(tf.gather(predictions, targets.classes), targets)
        train_op = tf1.train.AdamOptimizer(cfg.learning_rate).minimize(loss)
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            stepped = [np.mean([sess.run([train_op, loss])[1] for _ in range(5)]) for _ in range(2)]
            stepped_final = sess.run(predictions)
    np.testing.assert_allclose(looped, stepped, rtol=1e-4)
    np.testing.assert_allclose(final, stepped_final, atol=1e-3)
    assert abs(looped[1] - looped[0]) > 1e-3  # the epochs trained


def test_ridge_fit_recovers_an_exact_linear_map():
    """Class mean targets that are exactly affine in the domain vectors are fitted exactly (tiny lambda)."""
    rng = np.random.default_rng(1)
    vectors, true_map = rng.normal(size=(30, 4)), rng.normal(size=(5, 8))
    affine = np.hstack([vectors, np.ones((30, 1))]) @ true_map
    targets = importance_map.AlphaTargets.build(np.repeat(np.arange(30), 3), rng.normal(size=(90, 8)))
    targets = dataclasses.replace(targets, mean_unit=affine)
    fitted = importance_map.ridge_fit(vectors, targets, 1e-9)
    np.testing.assert_allclose(fitted, true_map, atol=1e-6)
    np.testing.assert_allclose(importance_map.ridge_predict(vectors, fitted), affine, atol=1e-6)


@pytest.mark.parametrize("overrides, words", [
    ({"n_attr": 85}, "'n_attr' is 85, but it is 19 from the attributes vectors"),
    ({"n_alphas": 512}, "'n_alphas' is 512, but it is 128"),
    ({"n_train_class": 30}, "'n_train_class' is 30"),
    ({"dom2alpha_model": "multilayer"}, "needs 'n_hidden_1'"),
    ({"modality": "captions"}, "reads 'attrdir', which is null"),
    ({"learning_rate": "1e-3"}, "key 'learning_rate' must be a number"),
])
def test_bad_configs_fail_with_one_line_and_write_nothing(seen_model, seen_alphas, tmp_path, overrides, words):
    out = tmp_path / "out"
    failed = run_mod2alpha(tmp_path, experiment(seen_model, seen_alphas, out, **overrides))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert last_error_line(failed).startswith("error: ") and words in last_error_line(failed)
    assert not out.exists()


def test_alphadir_without_alphas_and_a_seen_class_without_images_are_errors(seen_model, seen_alphas, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = run_mod2alpha(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "out", alphadir=str(empty)))
    assert failed.returncode == 2 and f"{empty}: no gt_alphas.npy" in last_error_line(failed)
    partial = tmp_path / "partial"
    partial.mkdir()
    class_ids = np.load(os.path.join(seen_alphas["save_path"], "class_ids.npy"))
    keep = class_ids != class_ids[0]
    np.save(partial / "gt_alphas.npy", np.load(os.path.join(seen_alphas["save_path"], "gt_alphas.npy"))[keep])
    np.save(partial / "class_ids.npy", class_ids[keep])
    (partial / "alphas.json").write_text("{}")
    failed = run_mod2alpha(tmp_path, experiment(seen_model, seen_alphas, tmp_path / "out", alphadir=str(partial)))
    assert failed.returncode == 2 and f"seen class {class_ids[0]}" in last_error_line(failed)
    assert "has no images" in last_error_line(failed) and not (tmp_path / "out").exists()


def test_reed_caption_features_without_torchfile_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torchfile", None)  # as if not installed
    cfg = type("Cfg", (), {"modality": "captions", "caption_format": "reed_w2v", "attrdir": "a,b", "n_attr": 400})
    with pytest.raises(Exception, match="needs the 'torchfile' package: pip install torchfile"):
        domain_vectors.class_vectors(cfg, [1], ["001.Black_footed_Albatross"])


def test_cub_sentence_embeddings_map_to_classes_by_name(shared_data):
    """sent_splits.mat's columns follow allclasses_names (not id order); rows come back in our class order."""
    path = os.path.join(shared_data, "CUB", "xlsa17_proposed_split", "sent_splits.mat")
    with open(os.path.join(shared_data, "CUB", "classes.txt")) as f:
        names = dict((int(i), n) for i, n in (line.split() for line in f))
    ids = [1, 2, 3, 47, 200]
    cfg = type("Cfg", (), {"modality": "captions", "caption_format": "sent_mat", "attrdir": path})
    vectors = domain_vectors.class_vectors(cfg, ids, [names[i] for i in ids])
    mat = scipy.io.loadmat(path)
    column = {str(np.asarray(n).ravel()[0]): j for j, n in enumerate(mat["allclasses_names"].ravel())}
    assert vectors.shape == (5, 1024) and column["002.Laysan_Albatross"] == 0 != column["001.Black_footed_Albatross"]
    for row, class_id in enumerate(ids):
        np.testing.assert_array_equal(vectors[row], mat["att"][:, column[names[class_id]]])


def test_cub_continuous_attributes_load_as_200_by_312(shared_data):
    path = os.path.join(shared_data, "CUB", "attributes", "class_attribute_labels_continuous.txt")
    matrix = domain_vectors.class_attributes(path, list(range(1, 201)), "classattrdir")
    assert matrix.shape == (200, 312) and 0 <= matrix.min() and matrix.max() <= 100
    np.testing.assert_array_equal(domain_vectors.class_attributes(path, [3, 1], "classattrdir"), matrix[[2, 0]])
