"""Domain knowledge as one vector per class, in the prepared class order: attributes, captions, Wikipedia TF-IDF.

Every reader returns [n_classes, n_attr] float64 whose rows follow the prepared `classes.json` (original class ids),
whatever order the source file uses; classes are matched by id (official files) or by name (xlsa17 .mat, text).
"""
import glob
import os

import numpy as np
import scipy.io

from utils import config, fileio
from utils.cli import UserError

# Reed et al.'s CUB caption features name 17 classes differently from CUB's classes.txt.
REED_CUB_NAMES = {
    "009.Brewer_Blackbird": "009.Brewers_Blackbird", "022.Chuck_will_Widow": "022.Chuck_wills_Widow",
    "023.Brandt_Cormorant": "023.Brandts_Cormorant", "061.Heermann_Gull": "061.Heermanns_Gull",
    "067.Anna_Hummingbird": "067.Annas_Hummingbird", "093.Clark_Nutcracker": "093.Clarks_Nutcracker",
    "098.Scott_Oriole": "098.Scotts_Oriole", "113.Baird_Sparrow": "113.Bairds_Sparrow",
    "115.Brewer_Sparrow": "115.Brewers_Sparrow", "122.Harris_Sparrow": "122.Harriss_Sparrow",
    "123.Henslow_Sparrow": "123.Henslows_Sparrow", "124.Le_Conte_Sparrow": "124.Le_Contes_Sparrow",
    "125.Lincoln_Sparrow": "125.Lincolns_Sparrow", "126.Nelson_Sharp_tailed_Sparrow": "126.Nelsons_Sparrow",
    "178.Swainson_Warbler": "178.Swainsons_Warbler", "180.Wilson_Warbler": "180.Wilsons_Warbler",
    "193.Bewick_Wren": "193.Bewicks_Wren"}


def _require(path, key):
    if not os.path.exists(path):
        raise UserError(f"{path}: not found; fix '{key}' in the experiment config")
    return path


def _rows_by_class_id(table, path, class_ids):
    """Rows of a table with one row per dataset class in id order (row k-1 = class k), for `class_ids`."""
    if table.shape[0] < max(class_ids):
        raise UserError(f"{path}: {table.shape[0]} rows, but class id {max(class_ids)} needs row {max(class_ids)}")
    return table[np.asarray(class_ids) - 1]


def class_attributes(path, class_ids, key):
    """A class x attribute matrix: the prepared .npy (rows = prepared classes) or an official .txt (one row per
    class of the dataset's classes.txt, in id order). Missing values (-1, AwA2) become 0."""
    _require(path, key)
    if path.endswith(".npy"):
        matrix = fileio.read_npy(path, f"the file ('{key}')").astype(np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != len(class_ids):
            raise UserError(f"{path}: expected {len(class_ids)} rows (the prepared classes), found shape "
                            f"{list(matrix.shape)}; use the class_attributes file of 'prepared_dir'")
    else:
        try:
            table = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as err:
            raise UserError(f"{path}: not a numeric class x attribute matrix ({err})") from None
        matrix = _rows_by_class_id(table, path, class_ids)
    return np.where(matrix == -1, 0.0, matrix)


def _mat_column_by_name(path, class_names, key):
    """xlsa17-style .mat: `att` [D, C] with columns in `allclasses_names` order -> rows in our class order."""
    mat = scipy.io.loadmat(_require(path, key), variable_names=["att", "allclasses_names"])
    if "att" not in mat or "allclasses_names" not in mat:
        raise UserError(f"{path}: needs 'att' and 'allclasses_names' (an xlsa17 att_splits/sent_splits .mat)")
    names = [str(np.asarray(n).ravel()[0]) for n in mat["allclasses_names"].ravel()]
    column = {name: j for j, name in enumerate(names)}
    missing = [name for name in class_names if name not in column]
    if missing:
        raise UserError(f"{path}: allclasses_names lacks class '{missing[0]}'; the file belongs to another dataset")
    return mat["att"][:, [column[name] for name in class_names]].T.astype(np.float64)


def _wikipedia(path, class_ids, key):
    """The original's Wikipedia TF-IDF .mat: `PredicateMatrix` [n_dataset_classes, D], rows in class-id order."""
    mat = scipy.io.loadmat(_require(path, key), variable_names=["PredicateMatrix"])
    if "PredicateMatrix" not in mat:
        raise UserError(f"{path}: no 'PredicateMatrix'; expected the original release's TF-IDF .mat")
    return _rows_by_class_id(np.asarray(mat["PredicateMatrix"], dtype=np.float64), path, class_ids)


def _reed_w2v(attrdir, class_names, key):
    """Reed et al.'s per-class .t7 word2vec caption features [images, D, captions]: the mean over a class's images
    of each image's mean caption feature (every image has the same number of captions, so the mean over both)."""
    try:
        import torchfile
    except ImportError:
        raise UserError("reading Reed et al.'s .t7 caption features needs the 'torchfile' package: "
                        "pip install torchfile (or use caption_format 'sent_mat' or 'text')") from None
    parts = attrdir.split(",")
    if len(parts) != 2:
        raise UserError(f"'{key}' for caption_format reed_w2v is 'text_dir,feature_dir' (e.g. "
                        "data/CUB/text_c10,data/CUB/w2v_c10), got {attrdir!r}")
    feature_dir = _require(parts[1].strip(), key)
    rows = []
    for name in class_names:
        path = os.path.join(feature_dir, REED_CUB_NAMES.get(name, name) + ".t7")
        features = np.asarray(torchfile.load(_require(path, key)), dtype=np.float64)
        if features.ndim != 3:
            raise UserError(f"{path}: expected [images, dims, captions] features, found shape {list(features.shape)}")
        rows.append(features.mean(axis=(0, 2)))
    return np.stack(rows)


def _class_documents(folder, class_names, key):
    """One document per class: `<folder>/<class>.txt`, or every `<folder>/<class>/*.txt` (per-image texts)."""
    _require(folder, key)
    documents = []
    for name in class_names:
        files = [os.path.join(folder, name + ".txt")]
        if not os.path.isfile(files[0]):
            files = sorted(glob.glob(os.path.join(folder, name, "*.txt")))
        text = " ".join(open(f, encoding="utf-8", errors="replace").read() for f in files)
        if not text.strip():
            raise UserError(f"{folder}: no text for class '{name}' ({name}.txt or {name}/*.txt)")
        documents.append(text)
    return documents


def _tfidf(folder, class_names, n_terms, key):
    """TF-IDF of each class's text over the `n_terms` most frequent terms (fit on every class's text: the
    descriptions of unseen classes are the side information ZSL is given), and the terms."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    vectorizer = TfidfVectorizer(max_features=n_terms, sublinear_tf=True)
    matrix = vectorizer.fit_transform(_class_documents(folder, class_names, key)).toarray()
    if matrix.shape[1] < n_terms:
        raise UserError(f"{folder}: the class texts have {matrix.shape[1]} distinct terms but 'n_attr' is {n_terms}; "
                        f"set 'n_attr' to at most {matrix.shape[1]}")
    return matrix, list(vectorizer.get_feature_names_out())


def class_vectors(cfg, class_ids, class_names):
    """[n_classes, n_attr] domain vectors of the experiment's modality, rows in the prepared class order."""
    return named_class_vectors(cfg, class_ids, class_names, attribute_names=None)[0]


def named_class_vectors(cfg, class_ids, class_names, attribute_names):
    """The domain vectors and a name per dimension: the attribute names, the TF-IDF terms, or, for embeddings and
    the Wikipedia matrix (which ship no vocabulary), "<modality> dim j"."""
    if cfg.modality == "attributes":
        key = "classattrdir_binary" if cfg.a2t else "classattrdir"
        vectors, names = class_attributes(getattr(cfg, key), class_ids, key), attribute_names
    elif cfg.modality == "captions" and cfg.caption_format == "text":
        key = "attrdir"
        if cfg.n_attr is config.DERIVED:
            raise UserError(f"{cfg.attrdir}: text captions need 'n_attr' in the experiment config (the size of "
                            "their TF-IDF vocabulary)")
        vectors, names = _tfidf(cfg.attrdir, class_names, cfg.n_attr, key)
    else:
        key = "attrdir"
        if cfg.modality == "wikipedia":
            vectors = _wikipedia(cfg.attrdir, class_ids, key)
        elif cfg.caption_format == "sent_mat":
            vectors = _mat_column_by_name(cfg.attrdir, class_names, key)
        else:
            vectors = _reed_w2v(cfg.attrdir, class_names, key)
        names = [f"{cfg.modality} dim {j}" for j in range(vectors.shape[1])]
    fileio.require_finite(vectors, getattr(cfg, key),
                          f"every class needs a complete domain vector (fix the file or '{key}')")
    return vectors, names
