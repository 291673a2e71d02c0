"""The preparation on the real CUB-200-2011 and AwA2 files in ../shared/data (skipped when it is absent)."""
import os

import numpy as np
import scipy.io
from PIL import Image

from utils import datasets, splits
from utils.config import validate


def prepare(out_dir, **raw):
    info = datasets.prepare(validate({"out_dir": out_dir, **raw}, datasets.PREPARE_SCHEMA, "test-config"))
    return info, splits.load_prepared(out_dir)


def cub(shared_data, out_dir, **overrides):
    d = os.path.join(shared_data, "CUB")
    return prepare(out_dir, name="CUB", dataset_format="CUB", data_dir=d, image_dir=os.path.join(d, "images"),
                   split_dir=os.path.join(d, "xlsa17_proposed_split"), **overrides)


def test_cub_proposed_split_has_the_published_counts(shared_data, tmp_path):
    info, data = cub(shared_data, str(tmp_path / "cub"), check_images=False)  # images 051-200 are not shipped
    counts = info["counts"]
    assert (counts["seen_classes"], counts["unseen_classes"], counts["attributes"]) == (150, 50, 312)
    assert (counts["trainval"], counts["seen_test"], counts["unseen_test"]) == (7057, 1764, 2967)
    assert counts["seen_train"] + counts["seen_val"] == 7057
    assert data.attributes.shape == (200, 312) and data.attributes.max() <= 100
    # Rows are in class-id order although att_splits.mat's columns are not: compare through the names.
    mat = scipy.io.loadmat(os.path.join(shared_data, "CUB", "xlsa17_proposed_split", "att_splits.mat"))
    names = [str(np.asarray(n).ravel()[0]) for n in mat["allclasses_names"].ravel()]
    assert names[:2] == ["002.Laysan_Albatross", "003.Sooty_Albatross"]
    for class_id in (1, 17, 200):
        column = mat["original_att"][:, names.index(data.name_of(class_id))]
        np.testing.assert_allclose(data.attribute_rows([class_id])[0], column, rtol=1e-4, atol=1e-4)


def test_cub_classes_001_050_make_a_small_real_benchmark_whose_images_all_open(shared_data, tmp_path):
    info, data = cub(shared_data, str(tmp_path / "cub50"), class_id_range=[1, 50])
    counts = info["counts"]
    assert (counts["seen_classes"], counts["unseen_classes"]) == (40, 10)
    assert (counts["trainval"], counts["seen_test"], counts["unseen_test"]) == (1837, 460, 592)
    modes = set()
    for lst in data.lists.values():
        for path in lst.paths:
            with Image.open(path) as image:
                image.draft("RGB", (64, 64))
                modes.add(image.mode)
                assert image.convert("RGB").size[0] > 0
    assert "L" in modes  # CUB's grayscale images are among them


def test_awa2_proposed_split_has_the_published_counts(shared_data, tmp_path):
    d = os.path.join(shared_data, "AWA2")
    info, data = prepare(str(tmp_path / "awa2"), name="AWA2", dataset_format="AWA2", data_dir=d,
                         image_dir=os.path.join(d, "JPEGImages"), split_dir=os.path.join(d, "xlsa17_proposed_split"),
                         image_lists_dir=os.path.join(d, "derived_PS_lists"), check_images=False)
    counts = info["counts"]
    assert (counts["seen_classes"], counts["unseen_classes"], counts["attributes"]) == (40, 10, 85)
    assert (counts["trainval"], counts["seen_test"], counts["unseen_test"]) == (23527, 5882, 7913)
    assert data.attributes.shape == data.attributes_binary.shape == (50, 85)
    assert data.attributes.min() == 0.0  # AwA2's -1 (missing) became 0
    assert {data.name_of(i) for i in data.unseen_ids} == {  # the proposed split, not AwA2's own testclasses.txt
        "horse", "blue+whale", "sheep", "seal", "bat", "giraffe", "rat", "dolphin", "walrus", "bobcat"}
    for name, lst in data.lists.items():
        ids = data.unseen_ids if name == "unseen_test" else data.seen_ids
        sample = np.random.default_rng(0).choice(len(lst.paths), 50)
        assert all(os.path.basename(os.path.dirname(lst.paths[i])) == data.name_of(ids[lst.labels[i]]) for i in sample)
