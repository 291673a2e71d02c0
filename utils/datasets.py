"""Readers of the official dataset files (CUB-200-2011, AwA2) and the xlsa17 proposed split, and the preparation
that turns them into the prepared layout of utils/splits.py.

Facts of the real formats that this code relies on:
- CUB: `images.txt`, `image_class_labels.txt`, `classes.txt`, `attributes/class_attribute_labels_continuous.txt`
  (classes x 312, 0-100); the xlsa17 `*_loc` arrays are 1-based image ids in `images.txt` order.
- AwA2: `classes.txt`, `predicates.txt`, `predicate-matrix-{continuous,binary}.txt` (-1 = missing -> 0), images in
  `JPEGImages/<class>/`; the `*_loc` arrays index xlsa17's `res101.mat` `image_files`; without that file, the
  proposed-split name lists (`image_label_PS.txt`, `test_seen_PS.txt`) give the same split.
- xlsa17 `allclasses_names` (the columns of `att`) is not in class-id order: classes are matched by name.
- xlsa17's `train_loc`/`val_loc` split classes (trainclasses1/valclasses1), not images, so they cannot provide an
  image-level seen-val set; that comes from a seeded per-class split of trainval.
"""
import dataclasses
import os

import numpy as np
import scipy.io

from utils import fileio, splits
from utils.cli import UserError
from utils.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, Field

PREPARE_SCHEMA = {
    "name": Field((str,), help="dataset name shown in summaries and result tables, e.g. CUB"),
    "dataset_format": Field((str,), choices=("CUB", "AWA2"), help="layout of the official files"),
    "data_dir": Field((str,), help="folder of the official metadata files (classes.txt, ...)"),
    "image_dir": Field((str,), help="folder that image paths are relative to"),
    "split_dir": Field((str,), help="xlsa17 proposed-split folder (att_splits.mat, trainvalclasses.txt, ...)"),
    "image_lists_dir": Field((str, type(None)), default=None,
                             help="AwA2 without res101.mat: folder of image_label_PS.txt and test_seen_PS.txt"),
    "out_dir": Field((str,), help="prepared output folder"),
    "split": Field((str,), default="proposed", choices=("proposed", "validation1", "validation2", "validation3")),
    "class_id_range": Field((list, type(None)), default=None, help="[first, last] original class ids to keep"),
    "seen_val_fraction": Field((float,), default=0.2, valid=FRACTION),
    "original_seen_split_jsons": Field((list, type(None)), default=None,
                                       help="(new) the original's own seen train and val split files from its "
                                            "data.zip, [train.json, val.json] (lists of [image path, label]): "
                                            "seen_train / seen_val follow them; null: the seeded per-class split"),
    "validation_seen_test_fraction": Field((float,), default=0.2, valid=FRACTION),
    "random_seed": Field((int,), default=0, valid=NON_NEGATIVE),
    "max_images_per_class": Field((int, type(None)), default=None, valid=AT_LEAST_ONE,
                                  help="keep a seeded sample of at most this many images per class in trainval, "
                                       "seen test and unseen test (quick runs); null keeps all"),
    "check_images": Field((bool,), default=True),
}


@dataclasses.dataclass
class RawDataset:
    class_ids: list          # original class ids, ascending
    class_names: list
    attributes: np.ndarray   # [n_classes, n_attr] continuous, rows follow class_ids
    attributes_binary: object
    attribute_names: list
    image_paths: list        # relative to image_dir
    image_class_ids: np.ndarray
    trainval: np.ndarray     # indices into image_paths
    test_seen: np.ndarray
    test_unseen: np.ndarray


def _require(path, fix):
    if not os.path.isfile(path):
        raise UserError(f"{path}: not found; {fix}")
    return path


def _read_table(path, fix, columns=None):
    """Whitespace-separated lines -> list of token lists (checks the column count when given)."""
    rows = []
    with open(_require(path, fix), encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            if columns is not None and len(tokens) != columns:
                raise UserError(f"{path}:{line_no}: expected {columns} columns, found {len(tokens)}")
            rows.append(tokens)
    return rows


def read_class_list(path):
    """A dataset's classes.txt (`<id> <name>` lines, CUB's and AwA2's format) -> {id: name}."""
    rows = _read_table(path, "point 'class_list_f' at the dataset's classes.txt", columns=2)
    if not all(i.isdigit() for i, _ in rows):
        raise UserError(f"{path}: expected '<class id> <class name>' lines with integer ids")
    return {int(i): name for i, name in rows}


def _read_matrix(path, fix, shape):
    try:
        matrix = np.loadtxt(_require(path, fix), dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise UserError(f"{path}: not a numeric matrix ({err})") from None
    if matrix.shape != shape:
        raise UserError(f"{path}: expected a {shape[0]} x {shape[1]} matrix (classes x attributes), "
                        f"found {matrix.shape[0]} x {matrix.shape[1]}")
    return matrix


def _read_names(path, fix):
    return [" ".join(row) for row in _read_table(path, fix)]


def _load_mat(path, fix, keys):
    mat = scipy.io.loadmat(_require(path, fix), variable_names=keys)
    missing = [k for k in keys if k not in mat]
    if missing:
        raise UserError(f"{path}: lacks {', '.join(missing)}; use the xlsa17 proposed-split file")
    return mat


def _split_mat(split_dir):
    keys = ["allclasses_names", "trainval_loc", "test_seen_loc", "test_unseen_loc"]
    mat = _load_mat(os.path.join(split_dir, "att_splits.mat"),
                    "download the xlsa17 proposed split (download.sh) or set 'split_dir'", keys)
    names = [str(np.asarray(n).ravel()[0]) for n in mat["allclasses_names"].ravel()]
    locs = {k: mat[k].ravel().astype(np.int64) for k in keys[1:]}
    return names, locs


def read_cub(cfg):
    fix = "download CUB-200-2011 (download.sh) or set 'data_dir' in the config"
    d = cfg.data_dir
    classes = _read_table(os.path.join(d, "classes.txt"), fix, columns=2)
    class_ids = [int(c[0]) for c in classes]
    images = _read_table(os.path.join(d, "images.txt"), fix, columns=2)
    labels = dict((int(a), int(b)) for a, b in _read_table(os.path.join(d, "image_class_labels.txt"), fix, 2))
    image_ids = [int(i) for i, _ in images]
    if image_ids != list(range(1, len(images) + 1)) or sorted(labels) != image_ids:
        raise UserError(f"{os.path.join(d, 'images.txt')}: image ids must run 1..N and match image_class_labels.txt")
    # The official archive keeps attributes.txt beside the CUB_200_2011 folder; other copies put it inside.
    attr_file = next((p for p in (os.path.join(d, "attributes.txt"), os.path.join(d, "attributes", "attributes.txt"),
                                  os.path.join(os.path.dirname(os.path.abspath(d)), "attributes.txt"))
                      if os.path.isfile(p)), os.path.join(d, "attributes.txt"))
    attribute_names = [row[1] for row in _read_table(attr_file, fix, columns=2)]
    shape = (len(class_ids), len(attribute_names))
    continuous = _read_matrix(os.path.join(d, "attributes", "class_attribute_labels_continuous.txt"), fix, shape)
    binary_path = os.path.join(d, "attributes", "class_attribute_labels_binary.txt")
    binary = _read_matrix(binary_path, fix, shape) if os.path.isfile(binary_path) else None
    _, locs = _split_mat(cfg.split_dir)
    for key, loc in locs.items():
        if loc.min() < 1 or loc.max() > len(images):
            raise UserError(f"{os.path.join(cfg.split_dir, 'att_splits.mat')}: {key} refers to image ids outside "
                            f"1..{len(images)} of {os.path.join(d, 'images.txt')}; the split belongs to another "
                            "dataset")
    return RawDataset(
        class_ids=class_ids, class_names=[c[1] for c in classes], attributes=continuous, attributes_binary=binary,
        attribute_names=attribute_names, image_paths=[p for _, p in images],
        image_class_ids=np.array([labels[i] for i in image_ids]), trainval=locs["trainval_loc"] - 1,
        test_seen=locs["test_seen_loc"] - 1, test_unseen=locs["test_unseen_loc"] - 1)


def _awa2_images_from_res101(path, locs, class_ids):
    mat = _load_mat(path, "", ["image_files", "labels"])
    files = ["/".join(str(np.asarray(f).ravel()[0]).split("/")[-2:]) for f in mat["image_files"].ravel()]
    labels = mat["labels"].ravel().astype(np.int64)  # 1-based, classes.txt order
    return files, np.array([class_ids[y - 1] for y in labels]), {k: v - 1 for k, v in locs.items()}


def _awa2_images_from_lists(folder, class_ids, class_names, seen_names):
    fix = "set 'image_lists_dir' to the folder of image_label_PS.txt and test_seen_PS.txt, or put res101.mat " \
          "in 'split_dir'"
    files, ids, parts = [], [], {"trainval_loc": [], "test_seen_loc": [], "test_unseen_loc": []}
    for list_name in ("image_label_PS.txt", "test_seen_PS.txt"):
        path = os.path.join(folder, list_name)
        for rel, label in _read_table(path, fix, columns=2):
            index = int(label)
            if not 0 <= index < len(class_ids) or rel.split("/")[0] != class_names[index]:
                raise UserError(f"{path}: '{rel} {label}' does not match classes.txt (0-based labels expected)")
            seen = class_names[index] in seen_names
            key = "test_seen_loc" if list_name == "test_seen_PS.txt" else "trainval_loc" if seen else "test_unseen_loc"
            parts[key].append(len(files))
            files.append(rel)
            ids.append(class_ids[index])
    return files, np.array(ids), {k: np.array(v, dtype=np.int64) for k, v in parts.items()}


def read_awa2(cfg):
    fix = "download AwA2 (download.sh) or set 'data_dir' in the config"
    d = cfg.data_dir
    classes = _read_table(os.path.join(d, "classes.txt"), fix, columns=2)
    class_ids, class_names = [int(c[0]) for c in classes], [c[1] for c in classes]
    attribute_names = [row[1] for row in _read_table(os.path.join(d, "predicates.txt"), fix, columns=2)]
    shape = (len(class_ids), len(attribute_names))
    continuous = _read_matrix(os.path.join(d, "predicate-matrix-continuous.txt"), fix, shape)
    binary = _read_matrix(os.path.join(d, "predicate-matrix-binary.txt"), fix, shape)
    continuous[continuous < 0] = 0.0  # -1 marks a missing value
    _, locs = _split_mat(cfg.split_dir)
    res101 = os.path.join(cfg.split_dir, "res101.mat")
    if os.path.isfile(res101):
        files, image_ids, parts = _awa2_images_from_res101(res101, locs, class_ids)
    elif cfg.image_lists_dir:
        seen_names = set(_read_names(os.path.join(cfg.split_dir, "trainvalclasses.txt"), fix))
        files, image_ids, parts = _awa2_images_from_lists(cfg.image_lists_dir, class_ids, class_names, seen_names)
        for key, part in parts.items():
            if len(part) != len(locs[key]):
                raise UserError(f"{cfg.image_lists_dir}: lists give {len(part)} {key[:-4]} images, att_splits.mat "
                                f"{len(locs[key])}; use the proposed-split lists")
    else:
        raise UserError(f"{res101}: not found and 'image_lists_dir' is not set; AwA2's split needs one of them")
    return RawDataset(
        class_ids=class_ids, class_names=class_names, attributes=continuous, attributes_binary=binary,
        attribute_names=attribute_names, image_paths=files, image_class_ids=image_ids,
        trainval=parts["trainval_loc"], test_seen=parts["test_seen_loc"], test_unseen=parts["test_unseen_loc"])


READERS = {"CUB": read_cub, "AWA2": read_awa2}


def _class_list(split_dir, file_name, name_to_id):
    path = os.path.join(split_dir, file_name)
    names = _read_names(path, "use the xlsa17 proposed-split folder as 'split_dir'")
    unknown = [n for n in names if n not in name_to_id]
    if unknown:
        raise UserError(f"{path}: class '{unknown[0]}' is not in the dataset's classes.txt; "
                        "the split belongs to another dataset or the names differ")
    return [name_to_id[n] for n in names]


def _check_split(raw, cfg, seen_ids, unseen_ids):
    """The split's images must belong to its classes, and its class names to the dataset."""
    name_to_id = dict(zip(raw.class_names, raw.class_ids))
    mat_path = os.path.join(cfg.split_dir, "att_splits.mat")
    unknown = [n for n in _split_mat(cfg.split_dir)[0] if n not in name_to_id]
    if unknown:
        raise UserError(f"{mat_path}: allclasses_names has '{unknown[0]}', which is not in the dataset's classes.txt")
    for key, part, allowed in (("trainval", raw.trainval, seen_ids), ("test_seen", raw.test_seen, seen_ids),
                               ("test_unseen", raw.test_unseen, unseen_ids)):
        stray = np.setdiff1d(raw.image_class_ids[part], allowed)
        if stray.size:
            raise UserError(f"{mat_path}: {key} has images of class {raw.class_names[raw.class_ids.index(stray[0])]}, "
                            f"which its class lists do not put there")


def _per_class_holdout(rng, indices, class_ids, fraction):
    """Split `indices` per class: a seeded `fraction` (at least one image where a class has two) is held out."""
    kept, held = [], []
    for c in np.unique(class_ids[indices]):
        members = indices[class_ids[indices] == c]
        n_held = min(len(members) - 1, max(1, int(round(fraction * len(members))))) if len(members) > 1 else 0
        order = rng.permutation(len(members))
        held.extend(members[order[:n_held]])
        kept.extend(members[order[n_held:]])
    return np.sort(np.array(kept, dtype=np.int64)), np.sort(np.array(held, dtype=np.int64))


def _per_class_sample(rng, indices, class_ids, cap):
    """A seeded sample of at most `cap` of `indices` per class, in index order."""
    groups = [indices[class_ids[indices] == c] for c in np.unique(class_ids[indices])]
    return np.sort(np.concatenate([rng.permutation(g)[:cap] for g in groups])).astype(np.int64)


@dataclasses.dataclass
class Split:
    """Class ids and image indices (into the dataset's image table) of one GZSL split as it is being prepared."""
    seen_ids: list
    unseen_ids: list
    trainval: np.ndarray
    test_seen: np.ndarray
    test_unseen: np.ndarray
    keep_ids: list       # every class kept (seen, unseen and, for a validation split, the unused test classes)

    def parts(self):
        return self.trainval, self.test_seen, self.test_unseen


def _validation_split(cfg, raw, split, name_to_id, rng):
    """validationN: valclassesN play the unseen classes, trainval images only; the test images stay untouched."""
    k = cfg.split[-1]
    train_ids = _class_list(cfg.split_dir, f"trainclasses{k}.txt", name_to_id)
    val_ids = _class_list(cfg.split_dir, f"valclasses{k}.txt", name_to_id)
    if set(train_ids + val_ids) != set(split.seen_ids):
        raise UserError(f"{cfg.split_dir}: trainclasses{k}.txt + valclasses{k}.txt must make up trainvalclasses.txt")
    in_train = np.isin(raw.image_class_ids[split.trainval], train_ids)
    trainval, test_seen = _per_class_holdout(rng, split.trainval[in_train], raw.image_class_ids,
                                             cfg.validation_seen_test_fraction)
    return Split(train_ids, val_ids, trainval, test_seen, split.trainval[~in_train], split.keep_ids)


def _class_range(cfg, raw, split, source):
    """Only the classes (and their images) with original ids in `class_id_range`: a smaller GZSL benchmark."""
    if len(cfg.class_id_range) != 2 or not all(isinstance(v, int) for v in cfg.class_id_range):
        raise UserError(f"{source}: 'class_id_range' must be [first, last] original class ids, e.g. [1, 50]")
    first, last = cfg.class_id_range
    inside = [i for i in raw.class_ids if first <= i <= last]
    seen_ids = [i for i in split.seen_ids if first <= i <= last]
    unseen_ids = [i for i in split.unseen_ids if first <= i <= last]
    if not seen_ids or not unseen_ids:
        raise UserError(f"{source}: class_id_range {cfg.class_id_range} keeps {len(seen_ids)} seen and "
                        f"{len(unseen_ids)} unseen classes; a GZSL split needs at least one of each")
    return Split(seen_ids, unseen_ids, *(part[np.isin(raw.image_class_ids[part], inside)] for part in split.parts()),
                 inside)


def _capped(cfg, raw, split, rng, source):
    """A seeded sample of at most `max_images_per_class` images per class of every part, for quick runs."""
    if cfg.max_images_per_class < 2:
        raise UserError(f"{source}: 'max_images_per_class' must be at least 2 (a seen-val image and a training "
                        "one per class), or null")
    return dataclasses.replace(split, **dict(zip(("trainval", "test_seen", "test_unseen"), (
        _per_class_sample(rng, part, raw.image_class_ids, cfg.max_images_per_class) for part in split.parts()))))


def _image_key(path):
    """An image by its class folder and file name: the original's split files name images by paths of its own
    data.zip layout, which share only those with the paths here."""
    return "/".join(path.replace("\\", "/").split("/")[-2:])


def _read_original_split(path, keys, source):
    """The image indices an original split file lists (a JSON list of [image path, seen label]), and their labels."""
    entries = fileio.read_json(path)
    if not isinstance(entries, list) or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], int) for e in entries):
        raise UserError(f"{path}: not a split file of the original (a JSON list of [image path, label]); fix "
                        f"'original_seen_split_jsons' in {source}")
    unknown = [image for image, _ in entries if _image_key(image) not in keys]
    if unknown:
        raise UserError(f"{path}: lists {unknown[0]!r} ({len(unknown)} such), not an image of this dataset; fix "
                        f"'original_seen_split_jsons' in {source}")
    return np.array([keys[_image_key(image)] for image, _ in entries], dtype=np.int64), \
        np.array([label for _, label in entries], dtype=np.int64)


def _original_seen_split(cfg, raw, split, source):
    """seen_train / seen_val as the original's split files have them: each image of trainval in the file that lists
    it. The files must split the proposed split's trainval images, one label per class."""
    keys = {_image_key(p): i for i, p in enumerate(raw.image_paths)}
    if len(cfg.original_seen_split_jsons) != 2 or not all(isinstance(p, str) for p in cfg.original_seen_split_jsons):
        raise UserError(f"{source}: 'original_seen_split_jsons' must be [train split .json, val split .json]")
    (train, train_labels), (val, val_labels) = (_read_original_split(p, keys, source)
                                                for p in cfg.original_seen_split_jsons)
    files = " and ".join(cfg.original_seen_split_jsons)
    listed = np.concatenate([train, val])
    for what, wrong in (("an image of both", np.intersect1d(train, val)),
                        ("a test image", np.intersect1d(listed, np.concatenate([raw.test_seen, raw.test_unseen]))),
                        ("an unlisted trainval image", np.setdiff1d(split.trainval, listed))):
        if len(wrong):
            raise UserError(f"{files}: {raw.image_paths[wrong[0]]} is {what} ({len(wrong)} such); they must split "
                            f"the proposed split's trainval images; fix 'original_seen_split_jsons' in {source}")
    labels = np.concatenate([train_labels, val_labels])
    pairs = set(zip(labels.tolist(), raw.image_class_ids[listed].tolist()))
    if len(pairs) != len({label for label, _ in pairs}) or len(pairs) != len({c for _, c in pairs}):
        raise UserError(f"{files}: a label that names two classes, or a class with two labels; these are not the "
                        "original's split files of this dataset")
    return np.intersect1d(split.trainval, train), np.intersect1d(split.trainval, val)


def _check_images_exist(cfg, raw, split):
    for part in split.parts():
        missing = [p for p in (raw.image_paths[i] for i in part) if not os.path.isfile(os.path.join(cfg.image_dir, p))]
        if missing:
            raise UserError(f"{os.path.join(cfg.image_dir, missing[0])}: image not found ({len(missing)} listed "
                            "images missing); fix 'image_dir', or set 'check_images' to false to prepare lists only")


def prepare(cfg, source="config"):
    """Build the prepared layout from the official files; return its split_info dict."""
    raw = READERS[cfg.dataset_format](cfg)
    name_to_id = dict(zip(raw.class_names, raw.class_ids))
    seen_ids = _class_list(cfg.split_dir, "trainvalclasses.txt", name_to_id)
    unseen_ids = _class_list(cfg.split_dir, "testclasses.txt", name_to_id)
    _check_split(raw, cfg, seen_ids, unseen_ids)
    split = Split(seen_ids, unseen_ids, raw.trainval, raw.test_seen, raw.test_unseen, raw.class_ids)
    rng = np.random.default_rng(cfg.random_seed)
    if cfg.split != "proposed":
        split = _validation_split(cfg, raw, split, name_to_id, rng)
    if cfg.class_id_range is not None:
        split = _class_range(cfg, raw, split, source)
    if cfg.max_images_per_class is not None:
        split = _capped(cfg, raw, split, rng, source)
    seen_ids, unseen_ids = sorted(split.seen_ids), sorted(split.unseen_ids)
    if cfg.original_seen_split_jsons is None:
        seen_train, seen_val = _per_class_holdout(rng, split.trainval, raw.image_class_ids, cfg.seen_val_fraction)
    else:
        seen_train, seen_val = _original_seen_split(cfg, raw, split, source)
    if cfg.check_images:
        _check_images_exist(cfg, raw, split)
    seen_index = {c: i for i, c in enumerate(seen_ids)}
    unseen_index = {c: i for i, c in enumerate(unseen_ids)}

    def listing(part, index):
        return [raw.image_paths[i] for i in part], [index[raw.image_class_ids[i]] for i in part]

    lists = {"seen_train": listing(seen_train, seen_index), "seen_val": listing(seen_val, seen_index),
             "seen_test": listing(split.test_seen, seen_index), "unseen_test": listing(split.test_unseen, unseen_index)}
    info = _split_info(cfg, raw, seen_ids, unseen_ids, split, lists)
    rows = [raw.class_ids.index(i) for i in split.keep_ids]
    with fileio.atomic_dir(cfg.out_dir) as tmp:
        splits.write_prepared(
            tmp, [(i, raw.class_names[raw.class_ids.index(i)]) for i in split.keep_ids], seen_ids, unseen_ids, lists,
            raw.attributes[rows], None if raw.attributes_binary is None else raw.attributes_binary[rows],
            raw.attribute_names, info)
    return info


def _split_info(cfg, raw, seen_ids, unseen_ids, split, lists):
    """split_info.json: what was prepared, from what, and the counts."""
    return {
        "dataset": cfg.name, "dataset_format": cfg.dataset_format,
        "split": cfg.split, "out_dir": cfg.out_dir, "class_id_range": cfg.class_id_range,
        "image_dir": os.path.relpath(os.path.abspath(cfg.image_dir), os.path.abspath(cfg.out_dir)),
        "seen_val_source": f"seeded per-class split of trainval ({cfg.seen_val_fraction:g} held out per class, seed "
                           f"{cfg.random_seed}); xlsa17 train_loc/val_loc split classes, not images"
        if cfg.original_seen_split_jsons is None else
        f"the original's split files {' and '.join(cfg.original_seen_split_jsons)}",
        "counts": {"seen_classes": len(seen_ids), "unseen_classes": len(unseen_ids),
                   "attributes": len(raw.attribute_names), "trainval": int(len(split.trainval)),
                   **{name: len(paths) for name, (paths, _) in lists.items()}},
        "config": dict(vars(cfg)),
    }
