"""Probe images of alpha2w: the images on which the unseen head's importances are matched to the predicted ones.

NIWT needs no image of an unseen class: any image excites the network's neurons, and an example is (probe image,
unseen class c, predicted alpha of c). `sampling_mode` (the original's key):
  imagenet  a list of images given by `sampling_images` (the original: a pickle of ImageNet paths; here also a text
            list, one path per line; relative paths are relative to the list's folder)
  seen      the seen classes' training images (prepared seen_train list)
  noise     uniform-range noise images (the original's: N(0, 1) per pixel, min-max scaled to 0-255), fixed by the seed
`n_probe_images` are drawn with the seed (the original kept the first 3000 of its shuffled list).
"""
import dataclasses
import os
import pickle

import numpy as np

from utils.cli import UserError


@dataclasses.dataclass
class Probes:
    paths: list          # image paths, or None for noise
    pixels: object       # uint8 [P, S, S, 3] for noise, else None
    description: str

    def __len__(self):
        return len(self.paths) if self.paths is not None else len(self.pixels)


class _ListOnlyUnpickler(pickle.Unpickler):
    """A pickled list of path strings needs no classes: refuse any, so a foreign pickle cannot run code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_image_list(path):
    """Image paths from a pickled list of strings (the original's imagenet_files.pkl) or a text file of lines."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: 'sampling_images' not found; give a pickled list or a text list of image paths")
    if path.endswith((".pkl", ".pickle")):
        try:
            with open(path, "rb") as f:
                entries = _ListOnlyUnpickler(f).load()
        except Exception as err:
            raise UserError(f"{path}: not a pickled list of image paths ({err})") from None
        if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) for e in entries):
            raise UserError(f"{path}: must hold a list of image path strings")
    else:
        with open(path, encoding="utf-8") as f:
            entries = [line.strip() for line in f if line.strip()]
    folder = os.path.dirname(os.path.abspath(path))
    return [e if os.path.isabs(e) else os.path.normpath(os.path.join(folder, e)) for e in entries]


def noise_images(rng, count, size):
    """uint8 [count, size, size, 3]: per image N(0, 1) pixels min-max scaled to 0-255, as the original's noise mode."""
    noise = rng.standard_normal((count, size, size, 3)).astype(np.float32)
    low = noise.min(axis=(1, 2, 3), keepdims=True)
    high = noise.max(axis=(1, 2, 3), keepdims=True)
    return ((noise - low) / (high - low) * 255.0).astype(np.uint8)


def sample(cfg, prepared, rng, source):
    """The `n_probe_images` probes of the config's sampling mode, drawn with `rng`."""
    if cfg.sampling_mode == "noise":
        return Probes(None, noise_images(rng, cfg.n_probe_images, cfg.image_size),
                      f"{cfg.n_probe_images} noise images")
    if cfg.sampling_mode == "seen":
        pool, where = prepared.lists["seen_train"].paths, os.path.join(prepared.folder, "seen_train.txt")
    else:
        pool, where = read_image_list(cfg.sampling_images), cfg.sampling_images
    if len(pool) < cfg.n_probe_images:
        raise UserError(f"{where}: lists {len(pool)} images but 'n_probe_images' in {source} asks for "
                        f"{cfg.n_probe_images}; lower it or give a longer list")
    chosen = rng.choice(len(pool), cfg.n_probe_images, replace=False)
    return Probes([pool[i] for i in chosen], None, f"{cfg.n_probe_images} of {len(pool)} images of {where}")
