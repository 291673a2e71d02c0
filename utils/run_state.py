"""Whose run a finetuning run folder holds: recorded in its state.json, so that a config never resumes or finalises
another config's run (another network, class count or training list) as its own."""
import hashlib
import os

from utils.cli import UserError


def owner(model_name, num_classes, train_list):
    """What a run folder belongs to: the network, its classes and its training images (by name and label, so a
    copied data folder still matches)."""
    listed = "".join(f"{os.path.basename(p)} {label}\n" for p, label in zip(train_list.paths, train_list.labels))
    return {"model_name": model_name, "num_classes": num_classes,
            "train_images": hashlib.sha256(listed.encode()).hexdigest()}


def owned(found, mine, state_path):
    """`mine`, after checking that the folder's recorded owner `found` is the same; a folder of an earlier version
    (no record) is taken as it is."""
    if found is not None and found != mine:
        what = [key for key in mine if found.get(key) != mine[key]]
        raise UserError(f"{state_path}: holds a run of another config ({', '.join(what)} differ: "
                        f"{found['model_name']}, {found['num_classes']} classes); choose another 'save_path', "
                        "or delete the folder to start over")
    return mine
