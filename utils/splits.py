"""The prepared layout: the one set of files every stage reads, written by `python -m utils.prepare_data`.

  seen_train.txt, seen_val.txt, seen_test.txt   `<image path relative to image_dir> <seen class index>`
  unseen_test.txt                               `<image path relative to image_dir> <unseen class index>`
  classes.json          every kept class (original id, name) in id order; seen and unseen ids in index order
  class_attributes.npy  [n_classes, n_attr] float32, rows in `classes` order (continuous; AwA2's -1 -> 0)
  class_attributes_binary.npy (when the dataset has binary class attributes), attribute_names.txt
  split_info.json       counts, image_dir (relative to this folder), where seen-val came from, the config used
"""
import dataclasses
import os

import numpy as np

from utils import fileio
from utils.cli import UserError

LIST_NAMES = ("seen_train", "seen_val", "seen_test", "unseen_test")
PREPARATION = "the preparation step (python -m utils.prepare_data arg_configs/prepare/<dataset>.json)"


@dataclasses.dataclass
class ImageList:
    paths: list      # absolute image paths
    labels: np.ndarray  # index into the seen (or, for unseen_test, unseen) classes


@dataclasses.dataclass
class PreparedSplits:
    folder: str
    class_ids: list         # original ids of every kept class, ascending
    class_names: list
    seen_ids: list          # seen index -> original class id
    unseen_ids: list        # unseen index -> original class id
    attributes: np.ndarray  # [n_classes, n_attr], rows follow class_ids
    attributes_binary: object  # np.ndarray or None
    attribute_names: list
    lists: dict             # LIST_NAMES -> ImageList
    info: dict

    def name_of(self, class_id):
        return self.class_names[self.class_ids.index(class_id)]

    def attribute_rows(self, ids, binary=False):
        """Attribute vectors of the classes `ids`, in that order."""
        table = self.attributes_binary if binary else self.attributes
        if table is None:
            raise UserError(f"{self.folder}: this dataset has no binary class attributes; use the continuous ones")
        return table[[self.class_ids.index(i) for i in ids]]


def write_prepared(folder, classes, seen_ids, unseen_ids, lists, attributes, attributes_binary, attribute_names,
                   info):
    """Write the prepared layout into `folder` (an empty, temporary folder that the caller renames)."""
    for name in LIST_NAMES:
        paths, labels = lists[name]
        fileio.write_lines(os.path.join(folder, f"{name}.txt"), [f"{p} {int(y)}" for p, y in zip(paths, labels)])
    fileio.write_json(os.path.join(folder, "classes.json"), {
        "classes": [{"id": int(i), "name": n} for i, n in classes],
        "seen": [int(i) for i in seen_ids], "unseen": [int(i) for i in unseen_ids]})
    fileio.write_npy(os.path.join(folder, "class_attributes.npy"), attributes.astype(np.float32))
    if attributes_binary is not None:
        fileio.write_npy(os.path.join(folder, "class_attributes_binary.npy"), attributes_binary.astype(np.float32))
    fileio.write_lines(os.path.join(folder, "attribute_names.txt"), attribute_names)
    fileio.write_json(os.path.join(folder, "split_info.json"), info)


def _read_list(path, image_dir, n_classes):
    paths, labels = [], []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable image list ({type(err).__name__}); redo {PREPARATION}") from None
    for line_no, line in enumerate(lines, 1):
        rel, _, label = line.rpartition(" ")
        if not rel or not label.isdigit() or int(label) >= n_classes:
            raise UserError(f"{path}:{line_no}: expected '<image path> <class index below {n_classes}>'; "
                            f"redo {PREPARATION}")
        paths.append(os.path.join(image_dir, rel))
        labels.append(int(label))
    return ImageList(paths, np.array(labels, dtype=np.int64))


def _read_names(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable list of names ({type(err).__name__}); redo {PREPARATION}") from None


def load_list(path):
    """One prepared list file, its paths resolved through the split_info.json beside it."""
    folder = os.path.dirname(path)
    info_path, classes_path = os.path.join(folder, "split_info.json"), os.path.join(folder, "classes.json")
    for needed in (path, info_path, classes_path):
        if not os.path.isfile(needed):
            raise UserError(f"{needed}: not found; run {PREPARATION} first")
    info = fileio.read_json(info_path, PREPARATION, ("image_dir",))
    image_dir = os.path.normpath(os.path.join(folder, info["image_dir"]))
    classes = fileio.read_json(classes_path, PREPARATION, ("seen", "unseen", "classes"))
    n_classes = len(classes["unseen"] if os.path.basename(path).startswith("unseen") else classes["seen"])
    return _read_list(path, image_dir, n_classes)


def load_prepared(folder):
    """Read a prepared folder; a missing file is an error that says how to prepare it."""
    needed = [f"{n}.txt" for n in LIST_NAMES] + ["classes.json", "class_attributes.npy", "attribute_names.txt",
                                                 "split_info.json"]
    for name in needed:
        if not os.path.isfile(os.path.join(folder, name)):
            raise UserError(f"{os.path.join(folder, name)}: not found; run {PREPARATION} first")
    info = fileio.read_json(os.path.join(folder, "split_info.json"), PREPARATION, ("split", "image_dir"))
    classes = fileio.read_json(os.path.join(folder, "classes.json"), PREPARATION, ("seen", "unseen", "classes"))
    seen_ids, unseen_ids = classes["seen"], classes["unseen"]
    lists = {n: load_list(os.path.join(folder, f"{n}.txt")) for n in LIST_NAMES}
    binary_path = os.path.join(folder, "class_attributes_binary.npy")
    return PreparedSplits(
        folder=folder, class_ids=[c["id"] for c in classes["classes"]],
        class_names=[c["name"] for c in classes["classes"]],
        seen_ids=seen_ids, unseen_ids=unseen_ids,
        attributes=fileio.read_npy(os.path.join(folder, "class_attributes.npy"), PREPARATION),
        attributes_binary=fileio.read_npy(binary_path, PREPARATION) if os.path.isfile(binary_path) else None,
        attribute_names=_read_names(os.path.join(folder, "attribute_names.txt")), lists=lists, info=info)


def summary_lines(info):
    counts = info["counts"]
    return [
        f"prepared {info['dataset']} ({info['split']} split) -> {info['out_dir']}",
        f"  classes: {counts['seen_classes']} seen / {counts['unseen_classes']} unseen, "
        f"{counts['attributes']} attributes"
        + (f", class ids {info['class_id_range']}" if info["class_id_range"] else ""),
        f"  images: trainval {counts['trainval']} (seen_train {counts['seen_train']} + seen_val {counts['seen_val']}), "
        f"seen_test {counts['seen_test']}, unseen_test {counts['unseen_test']}",
        f"  seen-val: {info['seen_val_source']}",
    ]
