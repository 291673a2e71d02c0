"""The finetuned seen network, frozen: restored in inference mode behind one image iterator, and the batch loop that
fetches its tensors image by image. alpha_extraction.py, alpha2w.py and explain.py build their graphs on it."""
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
        e.g. labels), `extra(start)` gives (more fetches, fn(start, values)) for that batch only, e.g. figures."""
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
