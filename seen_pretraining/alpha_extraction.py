"""Stage 2 of NIWT: neuron importances ("alphas") of the finetuned seen network (`python alpha_extraction.py <cfg>`).

For every image of `dataset_json` (seen train + val), in inference mode: the importance at `layer_name` of the
ground-truth class and of the predicted class, i.e. the gradient of the pre-softmax logit with respect to the layer's
activations summed over space (a released network of the original scores the classes in its own order: name it with
`seen_class_order`). Written to `save_path` as .npy arrays and alphas.json (the whole folder at once),
with Grad-CAM overlays of the first `n_gradcam` images in `save_path/gradcam/`.
"""
import os
import sys
import time

import numpy as np
from tqdm import tqdm

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import checkpoints, class_order, config, datasets, devices, fileio, frozen_net, importance, input_pipeline
from utils import metrics, plots, preprocessing, seen_configs, splits
from utils.cli import UserError, main_guard
from utils.tf_compat import tf, tf1

OUTPUT_FILES = {
    "gt_alphas": "gt_alphas.npy",            # [N, K] float32: importance of the ground-truth class
    "pred_alphas": "pred_alphas.npy",        # [N, K] float32: importance of the predicted class
    "labels": "labels.npy",                  # [N] seen class index (ground truth)
    "class_ids": "class_ids.npy",            # [N] original class id (ground truth)
    "predictions": "predictions.npy",        # [N] predicted seen class index
    "images": "images.txt",                  # N absolute image paths, in the order of the arrays
}


def load_inputs(cfg, source):
    """Seen class order and the concatenated image lists, checked against each other and the config."""
    if not os.path.isfile(cfg.class_idmaps_json):
        raise UserError(f"{cfg.class_idmaps_json}: not found; point 'class_idmaps_json' at the prepared classes.json")
    classes = fileio.read_json(cfg.class_idmaps_json, splits.PREPARATION, ("seen", "classes"))
    seen_ids, names = classes["seen"], {c["id"]: c["name"] for c in classes["classes"]}
    config.settle(cfg, "num_classes", len(seen_ids), source, f"the seen classes in {cfg.class_idmaps_json}")
    if cfg.class_list_f is not None:
        listed = datasets.read_class_list(cfg.class_list_f)
        wrong = [i for i in seen_ids if listed.get(i) != names[i]]
        if wrong:
            raise UserError(f"{cfg.class_list_f}: class {wrong[0]} is {listed.get(wrong[0])!r} there but "
                            f"{names[wrong[0]]!r} in {cfg.class_idmaps_json}; both must describe the same dataset")
    list_paths = cfg.dataset_json.split(",") if isinstance(cfg.dataset_json, str) else cfg.dataset_json
    paths, labels = [], []
    for list_path in (p.strip() for p in list_paths):
        image_list = splits.load_list(list_path)
        if fileio.read_json(os.path.join(os.path.dirname(list_path), "classes.json"), splits.PREPARATION) != classes:
            raise UserError(f"{list_path}: prepared with other classes than {cfg.class_idmaps_json}; "
                            "use the lists and classes.json of one prepared folder")
        paths += [os.path.abspath(p) for p in image_list.paths]
        labels.append(image_list.labels)
    return seen_ids, names, paths, np.concatenate(labels)


class Extraction:
    """The graph: the frozen net over the images, the gt/predicted-class importances at the alpha layer and their
    Grad-CAM maps. On one device the labels are fed batch by batch, in the images' order; replicated over a
    tf.distribute `strategy`, images and labels come from one dataset whose global batches the replicas share."""

    def __init__(self, cfg, bypass, source, seen_order, strategy=None, paths=None, labels=None):
        self.graph, self.strategy = tf.Graph(), strategy
        with self.graph.as_default():
            tf1.set_random_seed(cfg.random_seed)
            if strategy is None:
                self.net = frozen_net.FrozenNet(cfg, cfg.num_classes, cfg.layer_name, source, bypass,
                                                seen_order=seen_order)
                self.labels = tf1.placeholder(tf.int64, [None], name="labels")
                self.tensors, self.views = self.importances(self.net.logits, self.net.activations, self.labels)
                self.views["images"] = self.net.images
                self.restore, activations = self.net.restore, self.net.activations
            else:
                shapes = {}

                def step(images, labels, _):
                    logits, _, activations, _ = frozen_net.network(cfg, cfg.num_classes, cfg.layer_name, source,
                                                                   images, bypass, seen_order=seen_order)
                    shapes["layer"] = activations.shape.as_list()[1:]
                    tensors, views = self.importances(logits, activations, labels)
                    return devices.whole_batch({**tensors, **views, "images": images}, cfg.batch_size)

                with strategy.scope():
                    iterator = devices.iterator(strategy, lambda replicas: input_pipeline.image_dataset(
                        paths, labels, cfg.preprocess_fn, cfg.image_size, cfg.batch_size, False,
                        num_parallel_calls=cfg.num_workers, replicas=replicas))
                    outputs = devices.gathered(strategy, strategy.experimental_run(
                        lambda inputs: step(*inputs), iterator))
                # the figures' inputs are fetched only while Grad-CAMs are drawn (several machines: they cross the
                # network)
                self.views = {key: outputs.pop(key) for key in ("gt_cam", "pred_cam", "images")}
                self.tensors = outputs
                self.start_images = iterator.initializer  # an op made on first use: before the graph is final
                self.restore = checkpoints.restore_fn(cfg.ckpt_path)
                self.layer_shape = shapes["layer"]
        self.graph.finalize()
        if strategy is None:
            self.layer_shape = activations.shape.as_list()[1:]

    @staticmethod
    def importances(logits, activations, labels):
        """({gt_alphas, pred_alphas, predictions}, their Grad-CAM maps {gt_cam, pred_cam})."""
        predictions = tf.argmax(logits, 1)
        gt_alphas = importance.class_importance(logits, activations, labels)
        pred_alphas = importance.class_importance(logits, activations, predictions)
        return ({"gt_alphas": gt_alphas, "pred_alphas": pred_alphas, "predictions": predictions},
                {"gt_cam": importance.gradcam(activations, gt_alphas),
                 "pred_cam": importance.gradcam(activations, pred_alphas)})


def extract(cfg, model, paths, labels, names, seen_ids, gradcam_dir):
    """The importances of every image; Grad-CAM overlays of the first `n_gradcam` saved on the way."""

    def save_gradcams(start, batch):
        for i in range(min(len(batch["predictions"]), cfg.n_gradcam - start)):
            gt, pred = names[seen_ids[labels[start + i]]], names[seen_ids[batch["predictions"][i]]]
            stem = os.path.splitext(os.path.basename(paths[start + i]))[0]
            plots.save_gradcam(os.path.join(gradcam_dir, f"{start + i:05d}_{stem}.png"),
                               preprocessing.to_display(cfg.preprocess_fn, batch["images"][i]),
                               [(f"gt: {gt}", batch["gt_cam"][i]), (f"pred: {pred}", batch["pred_cam"][i])],
                               f"{stem} ({cfg.layer_name})")

    with devices.session(model.strategy, model.graph) as sess, input_pipeline.naming_bad_images(paths):
        model.restore(sess)
        if model.strategy is None:
            return model.net.run(sess, paths, model.tensors, "alphas",
                                 feed=lambda start: {model.labels: labels[start:start + cfg.batch_size]},
                                 extra=lambda start: (model.views, save_gradcams) if start < cfg.n_gradcam
                                 else ({}, None))
        sess.run(model.start_images)
        out, start = {key: [] for key in ("gt_alphas", "pred_alphas", "predictions")}, 0
        with tqdm(total=len(paths), desc=f"alphas ({devices.replicas(model.strategy)} replicas)", leave=False,
                  disable=None) as bar:
            while start < len(paths):
                try:
                    batch = sess.run({**model.tensors, **model.views} if start < cfg.n_gradcam else model.tensors)
                except tf.errors.OutOfRangeError:
                    break
                if start < cfg.n_gradcam:
                    save_gradcams(start, batch)
                for key in out:
                    out[key].append(batch[key])
                start += len(batch["predictions"])
                bar.update(len(batch["predictions"]))
        return {key: np.concatenate(parts) for key, parts in out.items()}


def write_outputs(out, cfg, arrays, paths, labels, seen_ids, extra):
    """The arrays (OUTPUT_FILES) and alphas.json; returns the per-class accuracy of the seen predictions."""
    for key in ("gt_alphas", "pred_alphas"):
        fileio.write_npy(os.path.join(out, OUTPUT_FILES[key]), arrays[key].astype(np.float32))
    fileio.write_npy(os.path.join(out, OUTPUT_FILES["labels"]), labels)
    fileio.write_npy(os.path.join(out, OUTPUT_FILES["class_ids"]), np.array(seen_ids)[labels])
    fileio.write_npy(os.path.join(out, OUTPUT_FILES["predictions"]), arrays["predictions"])
    fileio.write_lines(os.path.join(out, OUTPUT_FILES["images"]), paths)
    accuracy = metrics.per_class_accuracy(labels, arrays["predictions"])
    fileio.write_json(os.path.join(out, "alphas.json"), {
        "model_name": cfg.model_name, "layer_name": cfg.layer_name, **extra,
        "n_images": len(paths), "n_alphas": int(arrays["gt_alphas"].shape[1]),
        "checkpoint": os.path.abspath(checkpoints.checkpoint_prefix(cfg.ckpt_path)),
        "orig_ckpt_path": cfg.orig_ckpt_path, "seen_class_ids": seen_ids, "per_class_accuracy": accuracy,
        "files": OUTPUT_FILES, "config": config.resolved_dict(cfg)})
    return accuracy


@main_guard
def main(argv=None):
    args = devices.stage_args(__doc__.splitlines()[0], argv, "JSON config (arg_configs/alpha_extract/)")
    start = time.time()
    cfg = seen_configs.load_alpha_extract(args.config)
    if args.print_config:
        return config.print_resolved(cfg)
    bypass = importance.parse_bypass(cfg.bypass_name, args.config)
    strategy = devices.make_strategy(cfg.distribute, args.config)
    seen_ids, names, paths, labels = load_inputs(cfg, args.config)
    print(f"alphas of {cfg.model_name} at {cfg.layer_name} for {len(paths)} images, checkpoint {cfg.ckpt_path}"
          + (f", bypass {','.join(bypass)}" if bypass else "")
          + (f"; {cfg.distribute} over {devices.replicas(strategy)} replicas" if strategy else ""))
    seen_order = class_order.seen_logit_order(cfg.seen_class_order, seen_ids, cfg.class_idmaps_json)
    model = Extraction(cfg, bypass, args.config, seen_order, strategy, paths, labels)
    with devices.worker_outputs(strategy, cfg.save_path) as save_path:
        with fileio.atomic_dir(save_path) as out:
            arrays = extract(cfg, model, paths, labels, names, seen_ids, os.path.join(out, "gradcam"))
            accuracy = write_outputs(out, cfg, arrays, paths, labels, seen_ids, {
                "layer_shape": model.layer_shape, "bypass": bypass, "config_path": os.path.abspath(args.config),
                "seconds": round(time.time() - start, 1)})
        print(f"wrote {save_path}: alphas [{len(paths)}, {arrays['gt_alphas'].shape[1]}], per-class accuracy of the "
              f"seen predictions on these images {accuracy:.3f}, {min(cfg.n_gradcam, len(paths))} Grad-CAM overlays")


if __name__ == "__main__":
    main()
