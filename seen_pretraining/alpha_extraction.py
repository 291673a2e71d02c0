"""Stage 2 of NIWT: neuron importances ("alphas") of the finetuned seen network (`python alpha_extraction.py <cfg>`).

For every image of `dataset_json` (seen train + val), in inference mode: the importance at `layer_name` of the
ground-truth class and of the predicted class, i.e. the gradient of the pre-softmax logit with respect to the layer's
activations summed over space. Written to `save_path` as .npy arrays and alphas.json (the whole folder at once),
with Grad-CAM overlays of the first `n_gradcam` images in `save_path/gradcam/`.
"""
import os
import time

import numpy as np
from tqdm import tqdm

from utils import checkpoints, config, datasets, importance, input_pipeline, io, metrics, nets_factory
from utils import plots, preprocessing, splits
from utils.cli import UserError, config_path_from_args, main_guard
from utils.config import AT_LEAST_ONE, NON_NEGATIVE, Field
from utils.tf_compat import tf, tf1

SCHEMA = {
    "random_seed": Field((int,), valid=NON_NEGATIVE),
    "num_classes": Field((int,), valid=AT_LEAST_ONE, help="seen classes of the finetuned network"),
    "class_list_f": Field((str, type(None)), default=None,
                          help="the dataset's classes.txt; its names must agree with class_idmaps_json"),
    "class_idmaps_json": Field((str,), help="the prepared classes.json: seen class index -> original class id"),
    "dataset_json": Field((str, list), help="prepared lists, comma-separated: seen_train.txt,seen_val.txt"),
    **nets_factory.MODEL_FIELDS,
    "batch_size": Field((int,), valid=AT_LEAST_ONE),
    "num_workers": Field((int,), valid=AT_LEAST_ONE),
    "bypass_name": Field((str, type(None)), default="None", help="\"None\" or gradient bypasses, see README"),
    "orig_ckpt_path": Field((str, type(None)), default=None,
                            help="the ImageNet checkpoint the finetuned one started from (recorded in alphas.json)"),
    "ckpt_path": Field((str,), help="finetuned checkpoint: a prefix, or a folder such as <save_path>/best"),
    "layer_name": Field((str,), help="end point whose importances are extracted, e.g. vgg_16/conv5/conv5_3"),
    "save_path": Field((str,), help="output folder"),
    "n_gradcam": Field((int,), default=50, valid=NON_NEGATIVE, help="Grad-CAM overlays saved for the first n images"),
}

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
    classes = io.read_json(cfg.class_idmaps_json)
    seen_ids, names = classes["seen"], {c["id"]: c["name"] for c in classes["classes"]}
    if len(seen_ids) != cfg.num_classes:
        raise UserError(f"{source}: 'num_classes' is {cfg.num_classes} but {cfg.class_idmaps_json} has "
                        f"{len(seen_ids)} seen classes")
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
        if io.read_json(os.path.join(os.path.dirname(list_path), "classes.json")) != classes:
            raise UserError(f"{list_path}: prepared with other classes than {cfg.class_idmaps_json}; "
                            "use the lists and classes.json of one prepared folder")
        paths += [os.path.abspath(p) for p in image_list.paths]
        labels.append(image_list.labels)
    return seen_ids, names, paths, np.concatenate(labels)


def build(cfg, spec, bypass, paths, labels, source):
    """The inference graph: batches -> logits, gt/predicted-class importances and Grad-CAM maps."""
    tf1.set_random_seed(cfg.random_seed)
    dataset = input_pipeline.image_dataset(paths, labels, cfg.preprocess_fn, cfg.image_size, cfg.batch_size, False,
                                           num_parallel_calls=cfg.num_workers)
    images, label_batch, _ = tf1.data.make_one_shot_iterator(dataset).get_next()
    net = nets_factory.get_network_fn(cfg.model_name, cfg.num_classes, is_training=False)
    with importance.bypass_scope(bypass):
        logits, end_points = net(images)
    if cfg.layer_name not in end_points:
        maps = [name for name, t in end_points.items() if t.shape.ndims == 4]
        raise UserError(f"{source}: 'layer_name' {cfg.layer_name!r} is not an end point of {cfg.model_name}; "
                        f"the default is {spec.alpha_layer!r}, others: {', '.join(maps[-6:])}")
    activations = end_points[cfg.layer_name]
    predictions = tf.argmax(logits, 1)
    gt_alphas = importance.class_importance(logits, activations, label_batch)
    pred_alphas = importance.class_importance(logits, activations, predictions)
    tensors = {"gt_alphas": gt_alphas, "pred_alphas": pred_alphas, "labels": label_batch, "predictions": predictions}
    views = {"images": images, "gt_cam": importance.gradcam(activations, gt_alphas),
             "pred_cam": importance.gradcam(activations, pred_alphas)}
    return tensors, views, activations.shape.as_list()[1:], checkpoints.restore_fn(cfg.ckpt_path)


def extract(cfg, tensors, views, restore, paths, names, seen_ids, gradcam_dir):
    """Run every batch; save Grad-CAM overlays of the first `n_gradcam` images on the way. Returns stacked arrays."""
    out = {key: [] for key in tensors}
    n_batches = int(np.ceil(len(paths) / cfg.batch_size))
    done = 0
    with tf1.Session() as sess, input_pipeline.naming_bad_images(paths):
        restore(sess)
        for _ in tqdm(range(n_batches), desc="alphas", disable=None):
            fetches = {**tensors, **views} if done < cfg.n_gradcam else tensors
            batch = sess.run(fetches)
            for key in tensors:
                out[key].append(batch[key])
            for i in range(min(len(batch["labels"]), cfg.n_gradcam - done)):
                gt, pred = (names[seen_ids[batch[k][i]]] for k in ("labels", "predictions"))
                stem = os.path.splitext(os.path.basename(paths[done + i]))[0]
                plots.save_gradcam(os.path.join(gradcam_dir, f"{done + i:05d}_{stem}.png"),
                                   preprocessing.to_display(cfg.preprocess_fn, batch["images"][i]),
                                   [(f"gt: {gt}", batch["gt_cam"][i]), (f"pred: {pred}", batch["pred_cam"][i])],
                                   f"{stem} ({cfg.layer_name})")
            done += len(batch["labels"])
    return {key: np.concatenate(parts) for key, parts in out.items()}


@main_guard
def main(argv=None):
    config_path = config_path_from_args(__doc__.splitlines()[0], argv, "JSON config (arg_configs/alpha_extract/)")
    start = time.time()
    cfg = config.load_config(config_path, SCHEMA)
    spec = nets_factory.spec_from_config(cfg, config_path)
    bypass = importance.parse_bypass(cfg.bypass_name, config_path)
    seen_ids, names, paths, labels = load_inputs(cfg, config_path)
    print(f"alphas of {cfg.model_name} at {cfg.layer_name} for {len(paths)} images, checkpoint {cfg.ckpt_path}"
          + (f", bypass {','.join(bypass)}" if bypass else ""))
    graph = tf.Graph()
    with graph.as_default():
        tensors, views, layer_shape, restore = build(cfg, spec, bypass, paths, labels, config_path)
    graph.finalize()
    with io.atomic_dir(cfg.save_path) as tmp, graph.as_default():
        arrays = extract(cfg, tensors, views, restore, paths, names, seen_ids, os.path.join(tmp, "gradcam"))
        class_ids = np.array(seen_ids)[arrays["labels"]]
        for key in ("gt_alphas", "pred_alphas"):
            io.write_npy(os.path.join(tmp, OUTPUT_FILES[key]), arrays[key].astype(np.float32))
        io.write_npy(os.path.join(tmp, OUTPUT_FILES["labels"]), arrays["labels"])
        io.write_npy(os.path.join(tmp, OUTPUT_FILES["class_ids"]), class_ids)
        io.write_npy(os.path.join(tmp, OUTPUT_FILES["predictions"]), arrays["predictions"])
        io.write_lines(os.path.join(tmp, OUTPUT_FILES["images"]), paths)
        accuracy = metrics.per_class_accuracy(arrays["labels"], arrays["predictions"])
        io.write_json(os.path.join(tmp, "alphas.json"), {
            "model_name": cfg.model_name, "layer_name": cfg.layer_name, "layer_shape": layer_shape,
            "n_images": len(paths), "n_alphas": int(arrays["gt_alphas"].shape[1]),
            "checkpoint": os.path.abspath(checkpoints.checkpoint_prefix(cfg.ckpt_path)),
            "orig_ckpt_path": cfg.orig_ckpt_path,
            "bypass": bypass, "seen_class_ids": seen_ids, "per_class_accuracy": accuracy,
            "files": OUTPUT_FILES, "config_path": os.path.abspath(config_path), "config": io.read_json(config_path),
            "seconds": round(time.time() - start, 1)})
    print(f"wrote {cfg.save_path}: alphas [{len(paths)}, {arrays['gt_alphas'].shape[1]}], per-class accuracy of the "
          f"seen predictions on these images {accuracy:.3f}, {min(cfg.n_gradcam, len(paths))} Grad-CAM overlays")


if __name__ == "__main__":
    main()
