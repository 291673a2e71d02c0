import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from helpers import synth_config
from utils import datasets, splits
from utils.cli import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepared(small_synth, out_dir, **overrides):
    datasets.prepare(synth_config(small_synth, out_dir, **overrides))
    return splits.load_prepared(out_dir)


def class_of(path):
    return os.path.basename(os.path.dirname(path))


def test_proposed_split_lists_are_complete_disjoint_and_labelled(small_synth, tmp_path):
    info = datasets.prepare(synth_config(small_synth, str(tmp_path / "prep")))
    data = splits.load_prepared(str(tmp_path / "prep"))
    assert info["counts"] == {"seen_classes": 9, "unseen_classes": 3, "attributes": 19, "trainval": 144,
                              "seen_train": 117, "seen_val": 27, "seen_test": 36, "unseen_test": 60}
    all_paths = [p for lst in data.lists.values() for p in lst.paths]
    assert len(all_paths) == len(set(all_paths)) == 240 and all(os.path.isfile(p) for p in all_paths)
    for name, lst in data.lists.items():
        ids = data.unseen_ids if name == "unseen_test" else data.seen_ids
        assert all(class_of(p) == data.name_of(ids[y]) for p, y in zip(lst.paths, lst.labels))
    # round(20% of each class's 16 trainval images)
    assert np.bincount(data.lists["seen_val"].labels).tolist() == [3] * 9
    assert data.class_ids == list(range(1, 13)) and sorted(data.seen_ids + data.unseen_ids) == data.class_ids
    continuous = np.loadtxt(os.path.join(small_synth, "attributes", "class_attribute_labels_continuous.txt"))
    np.testing.assert_allclose(data.attribute_rows(data.unseen_ids), continuous[np.array(data.unseen_ids) - 1],
                               rtol=1e-6)
    assert data.attributes_binary.shape == (12, 19)


def test_seen_val_is_seeded(small_synth, tmp_path):
    datasets.prepare(synth_config(small_synth, str(tmp_path / "a")))
    datasets.prepare(synth_config(small_synth, str(tmp_path / "b")))
    datasets.prepare(synth_config(small_synth, str(tmp_path / "c"), random_seed=2))
    val = lambda d: splits.load_prepared(str(tmp_path / d)).lists["seen_val"].paths  # noqa: E731
    assert val("a") == val("b") != val("c")


def test_validation_split_makes_val_classes_unseen_and_never_touches_test_images(small_synth, tmp_path):
    test = prepared(small_synth, str(tmp_path / "t"))
    val = prepared(small_synth, str(tmp_path / "v"), split="validation1")
    split = os.path.join(small_synth, "xlsa17_proposed_split")
    with open(os.path.join(split, "valclasses1.txt")) as f:
        val_names = set(f.read().split())
    assert {val.name_of(i) for i in val.unseen_ids} == val_names
    assert len(val.seen_ids) == 6
    used = {p for lst in val.lists.values() for p in lst.paths}
    trainval = set(test.lists["seen_train"].paths + test.lists["seen_val"].paths)
    assert used == trainval  # the real seen-test and unseen-test images stay out of validation runs


def write_original_splits(folder, data, val_per_class, edit=None):
    """The original's seen train / val split files (its data.zip form: JSON lists of [path in its layout, label],
    labels in a train_cid order of its own) for the trainval images of the prepared `data`: the first
    `val_per_class` images of each class by name go to val. `edit(train, val)` may spoil them. Returns the paths."""
    trainval = data.lists["seen_train"].paths + data.lists["seen_val"].paths
    train_cid = list(reversed(data.seen_ids))
    label = {data.name_of(c): train_cid.index(c) for c in data.seen_ids}
    by_class = {}
    for path in sorted(trainval):
        by_class.setdefault(class_of(path), []).append(f"../data/CUB/images/{class_of(path)}/{os.path.basename(path)}")
    val = [[p, label[name]] for name, paths in by_class.items() for p in paths[:val_per_class]]
    train = [[p, label[name]] for name, paths in by_class.items() for p in paths[val_per_class:]]
    if edit:
        edit(train, val)
    paths = [str(folder / "CUB_200_2011_proposed_seen_train_split.json"),
             str(folder / "CUB_200_2011_proposed_seen_val_split.json")]
    for path, entries in zip(paths, (train, val)):
        with open(path, "w") as f:
            json.dump(entries, f)
    return paths


def test_the_originals_own_seen_split_files_give_seen_train_and_seen_val(small_synth, tmp_path):
    """`original_seen_split_jsons` (the original's data.zip split files) decide which trainval images validate the
    finetuning, instead of the seeded 20 %; the test lists and everything else stay as they were."""
    seeded = prepared(small_synth, str(tmp_path / "seeded"))
    files = write_original_splits(tmp_path, seeded, val_per_class=4)
    info = datasets.prepare(synth_config(small_synth, str(tmp_path / "original"), original_seen_split_jsons=files))
    data = splits.load_prepared(str(tmp_path / "original"))
    expected_val = {p for name in {class_of(q) for q in seeded.lists["seen_val"].paths}
                    for p in sorted(q for q in seeded.lists["seen_train"].paths + seeded.lists["seen_val"].paths
                                    if class_of(q) == name)[:4]}
    assert set(data.lists["seen_val"].paths) == expected_val != set(seeded.lists["seen_val"].paths)
    assert np.bincount(data.lists["seen_val"].labels).tolist() == [4] * 9
    assert sorted(data.lists["seen_train"].paths + data.lists["seen_val"].paths) == sorted(
        seeded.lists["seen_train"].paths + seeded.lists["seen_val"].paths)
    for name in ("seen_test", "unseen_test"):
        assert data.lists[name].paths == seeded.lists[name].paths
    assert all(class_of(p) == data.name_of(data.seen_ids[y]) for p, y in zip(data.lists["seen_val"].paths,
                                                                               data.lists["seen_val"].labels))
    assert info["seen_val_source"] == f"the original's split files {files[0]} and {files[1]}"
    val = prepared(small_synth, str(tmp_path / "validation"), split="validation1", original_seen_split_jsons=files)
    trainval = set(val.lists["seen_train"].paths + val.lists["seen_val"].paths)  # the validation run's train classes
    assert set(val.lists["seen_val"].paths) == expected_val & trainval and len(val.seen_ids) == 6


@pytest.mark.parametrize("edit, words", [
    (lambda train, val: val.append(train[-1]), "is an image of both"),
    (lambda train, val: train.pop(), "is an unlisted trainval image (1 such)"),
    (lambda train, val: val.append(["x/001.Thing/unknown.jpg", 0]), "lists 'x/001.Thing/unknown.jpg' (1 such), not an "
                                                                     "image of this dataset"),
    (lambda train, val: val.__setitem__(0, [val[0][0], val[-1][1]]), "a label that names two classes"),
    (lambda train, val: val.__setitem__(0, {"image": val[0][0]}), "not a split file of the original"),
])
def test_original_split_files_that_do_not_split_trainval_are_one_line_errors(small_synth, tmp_path, edit, words):
    seeded = prepared(small_synth, str(tmp_path / "seeded"))
    files = write_original_splits(tmp_path, seeded, 4, edit)
    with pytest.raises(UserError, match=re.escape(words)):
        datasets.prepare(synth_config(small_synth, str(tmp_path / "never"), original_seen_split_jsons=files))
    assert not (tmp_path / "never").exists()


def test_original_split_files_that_list_a_test_image_are_rejected(small_synth, tmp_path):
    seeded = prepared(small_synth, str(tmp_path / "seeded"))
    test_image = seeded.lists["seen_test"].paths[0]
    files = write_original_splits(tmp_path, seeded, 4, lambda train, val: val.append(
        [f"../data/CUB/images/{class_of(test_image)}/{os.path.basename(test_image)}", val[0][1]]))
    with pytest.raises(UserError, match=rf"{re.escape(os.path.basename(test_image))} is a test image \(1 such\); "
                                        "they must split the proposed split's trainval images"):
        datasets.prepare(synth_config(small_synth, str(tmp_path / "never"), original_seen_split_jsons=files))


def test_class_subset_keeps_a_valid_gzsl_split(small_synth, tmp_path):
    data_all = prepared(small_synth, str(tmp_path / "all"))
    first_unseen = data_all.unseen_ids[0]
    last = max(first_unseen, 6)
    info = datasets.prepare(synth_config(small_synth, str(tmp_path / "sub"), class_id_range=[1, last]))
    sub = splits.load_prepared(str(tmp_path / "sub"))
    assert sub.class_ids == list(range(1, last + 1)) and sub.attributes.shape == (last, 19)
    assert all(i <= last for i in sub.seen_ids + sub.unseen_ids)
    assert info["counts"]["unseen_test"] == 20 * len(sub.unseen_ids)
    with pytest.raises(UserError, match="keeps 0 seen"):
        datasets.prepare(synth_config(small_synth, str(tmp_path / "x"), class_id_range=[100, 200]))


def test_bad_inputs_are_one_line_errors_and_leave_no_output(small_synth, tmp_path):
    out = str(tmp_path / "never")
    with pytest.raises(UserError, match=r"classes\.txt: not found; download CUB"):
        datasets.prepare(synth_config(str(tmp_path / "nowhere"), out))
    with pytest.raises(UserError, match="image not found.*check_images"):
        datasets.prepare(synth_config(small_synth, out, image_dir=str(tmp_path)))
    assert os.listdir(tmp_path) == []  # neither the output nor a temporary folder is left behind


def corrupt_copy(small_synth, split, edit):
    """A copy of the split folder at `split` with one file edited."""
    split.mkdir()
    src = os.path.join(small_synth, "xlsa17_proposed_split")
    for name in os.listdir(src):
        (split / name).write_bytes(open(os.path.join(src, name), "rb").read())
    edit(split)
    return str(split)


def test_a_split_that_refers_to_missing_classes_or_images_is_rejected(small_synth, tmp_path):
    def unknown_class(split):
        (split / "testclasses.txt").write_text((split / "testclasses.txt").read_text() + "999.No_Such_Bird\n")

    split = corrupt_copy(small_synth, tmp_path / "a", unknown_class)
    with pytest.raises(UserError, match="testclasses.txt: class '999.No_Such_Bird' is not in"):
        datasets.prepare(synth_config(small_synth, str(tmp_path / "o"), split_dir=split))

    def out_of_range(split):
        mat = scipy.io.loadmat(str(split / "att_splits.mat"))
        mat["test_seen_loc"][0, 0] = 5000
        scipy.io.savemat(str(split / "att_splits.mat"), {k: v for k, v in mat.items() if not k.startswith("__")})

    split = corrupt_copy(small_synth, tmp_path / "b", out_of_range)
    with pytest.raises(UserError, match="test_seen_loc refers to image ids outside 1..240"):
        datasets.prepare(synth_config(small_synth, str(tmp_path / "o"), split_dir=split))


def test_command_line_prints_summary_and_fails_cleanly(small_synth, tmp_path):
    config = tmp_path / "prep.json"
    raw = {"name": "SYNTH", "dataset_format": "CUB", "data_dir": small_synth,
           "image_dir": os.path.join(small_synth, "images"),
           "split_dir": os.path.join(small_synth, "xlsa17_proposed_split"), "out_dir": str(tmp_path / "out")}
    config.write_text(json.dumps(raw))
    run = lambda: subprocess.run([sys.executable, "-m", "utils.prepare_data", str(config)], cwd=ROOT,  # noqa: E731
                                 capture_output=True, text=True)
    done = run()
    assert done.returncode == 0 and "9 seen / 3 unseen, 19 attributes" in done.stdout
    config.write_text(json.dumps({**raw, "dataset_format": "ImageNet"}))
    failed = run()
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        f'error: {config}: key \'dataset_format\' is "ImageNet"; choose one of "CUB", "AWA2"']
