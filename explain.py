"""NIWT's explanations after alpha2w: `python explain.py --config_json arg_configs/<net>_config_<DATASET>.json`.

- Neuron names: an inverse map importance -> domain vector is learnt on the seen classes' importances (stage 2), and
  each neuron of the alpha layer is named by the domain dimensions (attributes or words) its one-hot importance maps to.
- Textual explanations: for each test image, the importance of its predicted class (seen or unseen, argmax over all
  classes at gamma = 0) at the alpha layer, its most important neurons with their names, and the dimensions the whole
  importance vector maps back to.
- Visual explanations: Grad-CAM of the predicted class and of the true class, the learnt unseen classifiers included.
- How often the words are true of the class (on unseen test images, against the chance of a random dimension), and a
  static HTML page of a handful of test images. Everything goes to <ckpt_dir>/explanations/ (written whole).
"""
import os
import time

import numpy as np
from tqdm import tqdm

from utils import checkpoints, dom2alpha, domain, experiment, explanation, input_pipeline, io, metrics
from utils import nets_factory, plots, preprocessing, splits
from utils import cli
from utils.cli import UserError, main_guard
from utils.importance import class_importance, gradcam
from utils.tf_compat import tf, tf1


def parse_args(argv):
    parser = cli.config_parser(__doc__.splitlines()[0], "experiment config (arg_configs/<net>_config_<DATASET>.json)")
    parser.add_argument("--n_show", type=int, default=12, help="test images on the HTML page (half seen, half unseen)")
    parser.add_argument("--max_images", type=int, default=0,
                        help="explain at most this many test images of each split, drawn with the seed (0: all)")
    parser.add_argument("--top_neurons", type=int, default=5)
    parser.add_argument("--top_names", type=int, default=3, help="dimensions per neuron name and per explanation")
    return cli.parse_config_args(parser, argv)


def trained_head(cfg, prepared, source):
    """alpha2w's outputs: the scored unseen head (as GZSL was evaluated) and its results."""
    head_path, results_path = (os.path.join(cfg.ckpt_dir, n) for n in ("unseen_head.npz", "results.json"))
    for path in (head_path, results_path):
        if not os.path.isfile(path):
            raise UserError(f"{path}: not found; run alpha2w.py with {source} first ('ckpt_dir')")
    head = np.load(head_path)
    if head["unseen_ids"].tolist() != prepared.unseen_ids or head["seen_ids"].tolist() != prepared.seen_ids:
        raise UserError(f"{head_path}: its classes are not those of {cfg.prepared_dir}; rerun alpha2w.py")
    return head["scored_weights"].astype(np.float32), head["scored_biases"].astype(np.float32)


def inverse_map(cfg, prepared, targets, source):
    """The alpha -> domain map, fitted on the seen images' gt alphas; lambda on mod2alpha's validation classes."""
    meta_path = os.path.join(cfg.dom2alpha_ckpt_dir, "mod2alpha.json")
    if not os.path.isfile(meta_path):
        raise UserError(f"{meta_path}: not found; run mod2alpha.py with {source} first")
    meta = io.read_json(meta_path)
    alphas, rows = dom2alpha.load_alphas(cfg, prepared, source)
    row_of = {c: i for i, c in enumerate(prepared.class_ids)}
    return explanation.InverseMap(alphas, rows, targets, [row_of[c] for c in meta["train_class_ids"]],
                                  [row_of[c] for c in meta["val_class_ids"]])


def build(cfg, spec, layer, n_seen, head, source):
    """Graph: images -> frozen net -> seen logits and the unseen head (constants) -> joint logits; importance and
    Grad-CAM of the predicted class and of a fed class."""
    graph = tf.Graph()
    with graph.as_default():
        paths = tf1.placeholder(tf.string, [None], name="image_paths")
        dataset = input_pipeline.eval_images(paths=paths, preprocessing_name=cfg.preprocess_fn,
                                             image_size=cfg.image_size, batch_size=cfg.batch_size,
                                             num_parallel_calls=cfg.num_workers)
        iterator = tf1.data.make_initializable_iterator(dataset)
        images = iterator.get_next()
        seen_logits, end_points = nets_factory.get_network_fn(cfg.model_name, n_seen, is_training=False)(images)
        if layer not in end_points:
            raise UserError(f"{source}: 'layer_name' {layer!r} is not an end point of {cfg.model_name}")
        activations = end_points[layer]
        features = nets_factory.penultimate_features(spec, end_points)
        logits = tf.concat([seen_logits, tf.matmul(features, tf.constant(head[0])) + tf.constant(head[1])], 1)
        true_class = tf1.placeholder(tf.int32, [None], name="true_class")
        predicted = tf.argmax(logits, 1, output_type=tf.int32)
        pred_alpha = class_importance(logits, activations, predicted)
        true_alpha = class_importance(logits, activations, true_class)
        tensors = {"predicted": predicted, "pred_alpha": pred_alpha, "true_alpha": true_alpha}
        views = {"images": images, "pred_cam": gradcam(activations, pred_alpha),
                 "true_cam": gradcam(activations, true_alpha)}  # fetched only for the batches shown
        restore = checkpoints.restore_fn(cfg.ckpt_path)
    graph.finalize()
    return graph, paths, iterator, true_class, tensors, views, restore


def explain_images(sess, graph_parts, image_paths, labels, show, batch_size, desc):
    """Importances, predictions and Grad-CAM maps of every image; the pixels of the images in `show` (for figures)."""
    paths, iterator, true_class, tensors, views = graph_parts
    sess.run(iterator.initializer, {paths: image_paths})
    out, pixels, cams = {k: [] for k in tensors}, {}, {}
    for start in tqdm(range(0, len(image_paths), batch_size), desc=desc, leave=False, disable=None):
        batch_labels = labels[start:start + batch_size]
        wanted = [i for i in range(start, start + len(batch_labels)) if i in show]
        fetches = {**tensors, **views} if wanted else tensors
        batch = sess.run(fetches, {true_class: batch_labels})
        for key in out:
            out[key].append(batch[key])
        for i in wanted:
            pixels[i] = batch["images"][i - start]
            cams[i] = (batch["pred_cam"][i - start], batch["true_cam"][i - start])
    return {k: np.concatenate(v) for k, v in out.items()}, pixels, cams


def describe(alpha, mapped, names, neuron_table, top_neurons, top_names):
    """The textual explanation of one importance vector (`mapped`: its image under the inverse map): top neurons
    with names, and what it maps back to."""
    neurons = [k for k in explanation.top(alpha, top_neurons) if alpha[k] > 0]
    words = [names[j] for j in explanation.top(mapped, top_names)]
    neuron_text = "; ".join(f"#{k} ({', '.join(n for n, _ in neuron_table[k][:top_names]) or 'unnamed'})"
                            for k in neurons)
    return {"neurons": neurons, "mapped": words,
            "text": f"Most important neurons: {neuron_text or 'none with positive importance'}. "
                    f"The importance maps back to: {', '.join(words)}."}


@main_guard
def main(argv=None):
    args = parse_args(argv)
    config_path = args.config
    start = time.time()
    cfg = experiment.load(config_path, "alpha2w")
    spec = nets_factory.spec_from_config(cfg, config_path)
    layer = experiment.alpha_layer(cfg, spec, config_path)
    prepared = splits.load_prepared(cfg.prepared_dir)
    n_seen = len(prepared.seen_ids)
    head = trained_head(cfg, prepared, config_path)
    vectors, names = domain.named_class_vectors(cfg, prepared.class_ids, prepared.class_names,
                                                prepared.attribute_names)
    seen_rows = [prepared.class_ids.index(c) for c in prepared.seen_ids]
    targets = dom2alpha.standardised(vectors, seen_rows)
    inverse = inverse_map(cfg, prepared, targets, config_path)
    coefficients = inverse.neuron_coefficients()
    neuron_table = explanation.neuron_names(coefficients, names, args.top_names)
    joint_ids = prepared.seen_ids + prepared.unseen_ids   # the column order of the joint logits
    truth = [set(np.flatnonzero(targets[prepared.class_ids.index(c)] > 0).tolist()) for c in joint_ids]
    class_name = [prepared.name_of(c) for c in joint_ids]
    print(f"explain {cfg.dataset} {cfg.model_name} {cfg.modality}: inverse map {coefficients.shape[0]} neurons -> "
          f"{len(names)} dimensions, lambda {inverse.lam:g}, val-class cosine {inverse.val_cosine:.3f}")

    rng = np.random.default_rng(cfg.random_seed)
    splits_to_explain = {}
    for kind, part, offset in (("seen", prepared.lists["seen_test"], 0),
                               ("unseen", prepared.lists["unseen_test"], n_seen)):
        order = np.arange(len(part.paths))
        if args.max_images and len(order) > args.max_images:
            order = np.sort(rng.choice(order, args.max_images, replace=False))
        show = set(rng.choice(len(order), min(len(order), (args.n_show + (kind == "seen")) // 2), replace=False)
                   .tolist())
        splits_to_explain[kind] = ([part.paths[i] for i in order], part.labels[order] + offset, show)
    graph, paths, iterator, true_class, tensors, views, restore = build(cfg, spec, layer, n_seen, head, config_path)
    results = {}
    with io.atomic_dir(os.path.join(cfg.ckpt_dir, "explanations")) as out, tf1.Session(graph=graph) as sess:
        all_paths = [p for image_paths, _, _ in splits_to_explain.values() for p in image_paths]
        with input_pipeline.naming_bad_images(all_paths):
            restore(sess)
            for kind, (image_paths, labels, show) in splits_to_explain.items():
                results[kind] = (*explain_images(sess, (paths, iterator, true_class, tensors, views), image_paths,
                                                 labels, show, cfg.batch_size, f"{kind} test"), image_paths, labels)
        unseen_out, _, _, _, unseen_labels = results["unseen"]
        # words of each unseen test image's true-class importance, and its class's top neurons' names
        words_true, chance = explanation.precision_at_1(inverse(unseen_out["true_alpha"]),
                                                        [truth[c] for c in unseen_labels])
        unseen_classes = sorted(set(unseen_labels.tolist()))
        class_mean = np.stack([dom2alpha.unit_rows(unseen_out["true_alpha"][unseen_labels == c]).mean(0)
                               for c in unseen_classes])
        names_true, names_chance = explanation.neuron_name_precision(class_mean, coefficients,
                                                                     [truth[c] for c in unseen_classes],
                                                                     args.top_neurons)
        names_auc = explanation.neuron_name_auc(class_mean, coefficients, [truth[c] for c in unseen_classes])
        as_unseen = unseen_out["predicted"] >= n_seen
        words_pred, pred_chance = explanation.precision_at_1(
            inverse(unseen_out["pred_alpha"][as_unseen]), [truth[c] for c in unseen_out["predicted"][as_unseen]]) \
            if as_unseen.any() else (float("nan"), float("nan"))
        faithfulness = {
            "mapped_word_true_of_class": {"unseen test, true-class importance": words_true, "chance": chance},
            "mapped_word_true_of_predicted_unseen_class": {"unseen test predicted unseen": words_pred,
                                                           "chance": pred_chance, "images": int(as_unseen.sum())},
            "top_neuron_names_true_of_class": {"unseen classes": names_true, "chance": names_chance,
                                               "neurons_per_class": args.top_neurons},
            "neuron_name_auc": {"unseen classes": names_auc, "chance": 0.5}}
        cards, records = [], []
        os.makedirs(os.path.join(out, "gradcam"))
        for kind, (arrays, pixels, cams, image_paths, labels) in results.items():
            mapped = inverse(arrays["pred_alpha"])
            for i, (path, label) in enumerate(zip(image_paths, labels)):
                predicted = int(arrays["predicted"][i])
                record = {"image": path, "split": f"{kind} test", "true": class_name[label],
                          "predicted": class_name[predicted],
                          "predicted_kind": "unseen" if predicted >= n_seen else "seen",
                          **describe(arrays["pred_alpha"][i], mapped[i], names, neuron_table, args.top_neurons,
                                     args.top_names)}
                records.append(record)
                if i in pixels:
                    figure = os.path.join(out, "gradcam", f"{kind}_{i:05d}.png")
                    panels = [(f"pred: {class_name[predicted]}", cams[i][0])]
                    if predicted != label:
                        panels.append((f"true: {class_name[label]}", cams[i][1]))
                    plots.save_gradcam(figure, preprocessing.to_display(cfg.preprocess_fn, pixels[i]), panels,
                                       f"{os.path.basename(path)} ({layer})")
                    cards.append({"image": explanation.relative(figure, out), "true": record["true"],
                                  "predicted": record["predicted"], "kind": f"{record['predicted_kind']} class, "
                                  f"{kind} test image", "correct": predicted == label, "text": record["text"]})
        accuracy = {kind: metrics.per_class_accuracy(r[4], r[0]["predicted"]) for kind, r in results.items()}
        io.write_lines(os.path.join(out, "neuron_names.tsv"), ["neuron\tname\tcoefficients"] + [
            f"{k}\t{', '.join(n for n, _ in row) or '-'}\t{', '.join(f'{c:.3f}' for _, c in row)}"
            for k, row in enumerate(neuron_table)])
        summary = [f"{cfg.dataset} / {cfg.model_name} / {cfg.modality}; alpha layer {layer}. GZSL at gamma = 0 on "
                   f"the explained images: S {accuracy['seen']:.3f}, U {accuracy['unseen']:.3f}.",
                   f"Inverse map (importance -> {cfg.modality}): ridge lambda {inverse.lam:g}, chosen on mod2alpha's "
                   f"validation classes (mean cosine {inverse.val_cosine:.3f}).",
                   f"Unseen test images: the top mapped dimension of the true class's importance is true of the class "
                   f"for {words_true:.1%} of the images (a random dimension: {chance:.1%}); the first names of each "
                   f"unseen class's {args.top_neurons} most important neurons are true of it {names_true:.1%} of "
                   f"the time (chance {names_chance:.1%}); over all neurons, one whose first name is true of an unseen "
                   f"class is more important to it than one whose name is not with probability {names_auc:.2f} "
                   f"(chance 0.50)."]
        io.write_text(os.path.join(out, "index.html"), explanation.html_page(
            f"NIWT explanations: {cfg.dataset} {cfg.model_name} {cfg.modality}", summary, cards, neuron_table))
        io.write_json(os.path.join(out, "explanations.json"), {
            "dataset": cfg.dataset, "model_name": cfg.model_name, "modality": cfg.modality, "layer_name": layer,
            "inverse_map": {"lambda": inverse.lam, "val_cosine": inverse.val_cosine, "grid": inverse.grid,
                            "fitted_on": "seen trainval images' gt alphas -> z-scored class domain vectors"},
            "faithfulness": faithfulness, "accuracy_gamma0": accuracy,
            "neuron_names": [[{"name": n, "coefficient": c} for n, c in row] for row in neuron_table],
            "images": records, "config_path": os.path.abspath(config_path), "seconds": round(time.time() - start, 1)})
    print("\n".join(summary))
    print(f"wrote {os.path.join(cfg.ckpt_dir, 'explanations')}: index.html, neuron_names.tsv, explanations.json, "
          f"{len(cards)} Grad-CAM figures")


if __name__ == "__main__":
    main()
