"""The finetuned seen network, frozen: restored in inference mode behind one image iterator, and the batch loop that
fetches its tensors image by image. alpha_extraction.py, alpha2w.py and explain.py build their graphs on it.

A plain fetch over image files is kept for the rest of the process (`Memo`): the runner runs every seed and modality
of a run in one process, and each of their alpha2w steps would otherwise run the same network again on the same test,
held-out and probe images."""
import collections
import glob
import os

import numpy as np
from tqdm import tqdm

from utils import checkpoints, importance, input_pipeline, nets_factory
from utils.cli import UserError
from utils.tf_compat import tf, tf1


def network(cfg, n_classes, layer, source, images, bypass=(), zero_seen_biases=False, seen_order=None):
    """The net in inference mode on `images`: (logits, end points, the alpha layer's activations, the penultimate
    features the heads read). Also built per replica by a stage that runs on several devices (utils/devices.py).
    `seen_order` (class_order.seen_logit_order): the logit of each seen class in the prepared order, when the
    network's own order differs."""
    spec = nets_factory.get_spec(cfg.model_name)
    with importance.bypass_scope(bypass):
        logits, end_points = nets_factory.get_network_fn(cfg.model_name, n_classes)(images)
    if layer not in end_points:
        maps = [name for name, t in end_points.items() if t.shape.ndims == 4]
        raise UserError(f"{source}: 'layer_name' {layer!r} is not an end point of {cfg.model_name}; the default "
                        f"is {spec.alpha_layer!r}, others: {', '.join(maps[-6:])}")
    if zero_seen_biases:
        logits = logits - nets_factory.model_variable(f"{spec.logits_scope}/biases")
    if seen_order is not None:
        logits = tf.gather(logits, seen_order, axis=1)
    return logits, end_points, end_points[layer], nets_factory.penultimate_features(spec, end_points)


class Memo:
    """The frozen outputs of one network, image by image and tensor by tensor, for the steps of a process that run it
    again. In inference mode an image's outputs depend on nothing else in its batch, so they are keyed by what fixes
    them: the network's identity (its config, construction and checkpoint files, by size and modification time), the
    tensor's name and the image file (path and modification time). Only the latest network is held, up to LIMIT
    values."""
    LIMIT = 2 ** 28  # float32 values (1 GiB)
    network, values, size = None, {}, 0

    @classmethod
    def rows(cls, network, name):
        """The (image, modification time) -> row dict of tensor `name` of `network` (the held one is dropped for
        another network)."""
        if network != cls.network:
            cls.network, cls.values, cls.size = network, {}, 0
        return cls.values.setdefault(name, {})

    @classmethod
    def has_room(cls, count):
        return cls.size + count <= cls.LIMIT

    @classmethod
    def add(cls, rows, files, values):
        for file, row in zip(files, values):
            rows[file] = row
        cls.size += values.size


def checkpoint_files(path):
    """(file, size, modification time) of a checkpoint's files: they change whenever the checkpoint is rewritten."""
    prefix = checkpoints.checkpoint_prefix(path)
    return tuple((f, os.path.getsize(f), os.stat(f).st_mtime_ns) for f in sorted(glob.glob(prefix + "*")))


class FrozenNet:
    """In the current graph: image paths or uint8 pixels -> eval preprocessing -> the net (`n_classes` logits) in
    inference mode; its end points, the alpha layer's activations and the penultimate features the heads read.

    `restore` (fn(sess), or None with restore=False: random weights, for speed benchmarks) covers exactly the
    network's model variables: it is made before any head is added to the graph. Two behaviours of the original's
    alpha2w, off by default: `zero_seen_biases` (its ResNet path rebuilt the seen logits as a 1x1 conv with zero
    biases) and `reinit_beta` (every batch-norm beta re-initialised to 0 after the restore). `fallback`: a checkpoint
    that the variables `ckpt_path` lacks are restored from (the original's `ckpt: "old"`); `seen_order`: as in
    `network`."""

    def __init__(self, cfg, n_classes, layer, source, bypass=(), restore=True, zero_seen_biases=False,
                 reinit_beta=False, fallback=None, seen_order=None):
        self.batch_size = cfg.batch_size
        self.paths = tf1.placeholder(tf.string, [None], name="image_paths")
        self.pixels = tf1.placeholder(tf.uint8, [None, cfg.image_size, cfg.image_size, 3], name="image_pixels")
        options = dict(preprocessing_name=cfg.preprocess_fn, image_size=cfg.image_size, batch_size=cfg.batch_size,
                       num_parallel_calls=cfg.num_workers)
        from_paths = input_pipeline.eval_images(paths=self.paths, **options)
        from_pixels = input_pipeline.eval_images(pixels=self.pixels, **options)
        iterator = tf1.data.Iterator.from_structure(tf1.data.get_output_types(from_paths),
                                                    tf1.data.get_output_shapes(from_paths))
        self._from_paths, self._from_pixels = iterator.make_initializer(from_paths), \
            iterator.make_initializer(from_pixels)
        self.images = iterator.get_next()
        self.logits, self.end_points, self.activations, self.features = network(
            cfg, n_classes, layer, source, self.images, bypass, zero_seen_biases, seen_order)
        self.restore = checkpoints.restore_fn(cfg.ckpt_path, fallback=fallback) if restore else None
        self.identity = (cfg.model_name, cfg.image_size, cfg.preprocess_fn, n_classes, layer, tuple(bypass),
                         zero_seen_biases, reinit_beta, None if seen_order is None else tuple(seen_order),
                         checkpoint_files(cfg.ckpt_path), fallback and checkpoint_files(fallback)) if restore else None
        if reinit_beta and self.restore is not None:
            restore_only, beta_reset = self.restore, checkpoints.beta_reinitializer()
            self.restore = lambda sess: (restore_only(sess), sess.run(beta_reset))

    def feed(self, sess, images):
        """Point the iterator at `images`: a list of image paths, or uint8 pixels [N, S, S, 3]."""
        if isinstance(images, np.ndarray):
            sess.run(self._from_pixels, {self.pixels: images})
        else:
            sess.run(self._from_paths, {self.paths: list(images)})

    def run(self, sess, images, fetches, desc, feed=None, extra=None):
        """Fetch `fetches` (tensors over images) for every one of `images`, batch by batch; returns them
        concatenated. Per batch starting at image `start`: `feed(start)` adds to the feed dict (per-image inputs,
        e.g. labels), `extra(start)` gives (more fetches, fn(start, values)) for that batch only, e.g. figures.
        A plain fetch over image files of a restored network computes only the images the Memo lacks."""
        if self.identity is None or feed or extra or isinstance(images, np.ndarray):
            return self.fetch(sess, images, fetches, desc, feed, extra)
        rows = {key: Memo.rows(self.identity, tensor.name) for key, tensor in fetches.items()}
        files = [(image, os.stat(image).st_mtime_ns) for image in images]  # a rewritten image is computed anew
        missing = list(dict.fromkeys(file for file in files if any(file not in r for r in rows.values())))
        computed = self.fetch(sess, [image for image, _ in missing], fetches, desc) if missing else {}
        if computed and Memo.has_room(sum(values.size for values in computed.values())):
            for key, values in computed.items():
                Memo.add(rows[key], missing, values)
        found = {key: collections.ChainMap(dict(zip(missing, computed[key])) if computed else {}, rows[key])
                 for key in fetches}
        return {key: np.stack([found[key][file] for file in files]) for key in fetches}

    def fetch(self, sess, images, fetches, desc, feed=None, extra=None):
        """run's batch loop, without the Memo."""
        self.feed(sess, images)
        out, start = {key: [] for key in fetches}, 0
        with tqdm(total=len(images), desc=desc, leave=False, disable=None) as bar:
            while start < len(images):
                more, use = extra(start) if extra else ({}, None)
                try:
                    values = sess.run({**fetches, **more}, feed(start) if feed else None)
                except tf.errors.OutOfRangeError:
                    break
                for key in fetches:
                    out[key].append(values[key])
                if use is not None:
                    use(start, values)
                count = len(next(iter(values.values())))
                start += count
                bar.update(count)
        return {key: np.concatenate(parts) for key, parts in out.items()}
