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
import dataclasses
import os
import time

import numpy as np

from utils import class_order, cli, config, domain_vectors, experiment, explanation, fileio, frozen_net
from utils import importance_map
from utils import input_pipeline, metrics, nets_factory, plots, preprocessing, splits
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
    head = fileio.read_npz(head_path, "alpha2w.py")
    if head["unseen_ids"].tolist() != prepared.unseen_ids or head["seen_ids"].tolist() != prepared.seen_ids:
        raise UserError(f"{head_path}: its classes are not those of {cfg.prepared_dir}; rerun alpha2w.py")
    return head["scored_weights"].astype(np.float32), head["scored_biases"].astype(np.float32)


def inverse_map(cfg, prepared, targets, source):
    """The alpha -> domain map, fitted on the seen images' gt alphas; lambda on mod2alpha's validation classes."""
    meta_path = os.path.join(cfg.dom2alpha_ckpt_dir, "mod2alpha.json")
    if not os.path.isfile(meta_path):
        raise UserError(f"{meta_path}: not found; run mod2alpha.py with {source} first")
    meta = fileio.read_json(meta_path, "mod2alpha.py", ("train_class_ids", "val_class_ids"))
    alphas, rows = importance_map.load_alphas(cfg, prepared, source)
    row_of = {c: i for i, c in enumerate(prepared.class_ids)}
    return explanation.InverseMap(alphas, rows, targets, [row_of[c] for c in meta["train_class_ids"]],
                                  [row_of[c] for c in meta["val_class_ids"]])


class Explainer:
    """The graph: the frozen net and the unseen head (constants) -> joint logits; importance and Grad-CAM of the
    predicted class and of a fed (true) class."""

    def __init__(self, cfg, layer, n_seen, head, source, seen_order=None):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.net = frozen_net.FrozenNet(cfg, n_seen, layer, source, zero_seen_biases=cfg.zero_seen_biases,
                                            fallback=experiment.fallback_checkpoint(cfg), seen_order=seen_order,
                                            reinit_beta=cfg.reinit_batchnorm_beta)
            logits = tf.concat([self.net.logits,
                                tf.matmul(self.net.features, tf.constant(head[0])) + tf.constant(head[1])], 1)
            self.true_class = tf1.placeholder(tf.int32, [None], name="true_class")
            predicted = tf.argmax(logits, 1, output_type=tf.int32)
            pred_alpha = class_importance(logits, self.net.activations, predicted)
            true_alpha = class_importance(logits, self.net.activations, self.true_class)
            self.tensors = {"predicted": predicted, "pred_alpha": pred_alpha, "true_alpha": true_alpha}
            self.views = {"images": self.net.images, "pred_cam": gradcam(self.net.activations, pred_alpha),
                          "true_cam": gradcam(self.net.activations, true_alpha)}  # fetched for shown images only
        self.graph.finalize()

    def explain(self, sess, image_paths, labels, show, desc):
        """Importances and predictions of every image; the pixels and Grad-CAM maps of the images in `show`."""
        pixels, cams = {}, {}

        def keep_shown(start, batch):
            for i in range(start, start + len(batch["predicted"])):
                if i in show:
                    pixels[i] = batch["images"][i - start]
                    cams[i] = (batch["pred_cam"][i - start], batch["true_cam"][i - start])

        size = self.net.batch_size
        arrays = self.net.run(sess, image_paths, self.tensors, desc,
                              feed=lambda start: {self.true_class: labels[start:start + size]},
                              extra=lambda start: (self.views, keep_shown)
                              if show & set(range(start, start + size)) else ({}, None))
        return arrays, pixels, cams


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


@dataclasses.dataclass
class Explained:
    """One split's explained images: the fetched arrays (predicted, pred_alpha, true_alpha), the pixels and Grad-CAM
    maps of the shown images (by index), the image paths and their joint labels."""
    arrays: dict
    pixels: dict
    cams: dict
    paths: list
    labels: np.ndarray


@dataclasses.dataclass
class Naming:
    """The domain side of the explanations: a name per domain dimension, the inverse map importance -> domain and
    the neurons' names from it, and per joint class (seen first) its name and the dimensions true of it."""
    names: list
    inverse: explanation.InverseMap
    coefficients: np.ndarray   # [neurons, dimensions]: each neuron's one-hot importance under the inverse map
    neuron_table: list         # per neuron: [(name, coefficient)] of its top dimensions
    class_name: list
    truth: list


def load_naming(cfg, prepared, top_names, source):
    vectors, names = domain_vectors.named_class_vectors(cfg, prepared.class_ids, prepared.class_names,
                                                        prepared.attribute_names)
    targets = importance_map.standardised(vectors, [prepared.class_ids.index(c) for c in prepared.seen_ids])
    inverse = inverse_map(cfg, prepared, targets, source)
    coefficients = inverse.neuron_coefficients()
    joint_ids = prepared.seen_ids + prepared.unseen_ids  # the column order of the joint logits
    return Naming(names, inverse, coefficients, explanation.neuron_names(coefficients, names, top_names),
                  [prepared.name_of(c) for c in joint_ids],
                  [set(np.flatnonzero(targets[prepared.class_ids.index(c)] > 0).tolist()) for c in joint_ids])


def images_to_explain(cfg, prepared, max_images, n_show):
    """Per split (seen, unseen test): image paths, joint labels and the indices shown on the page, drawn with the
    seed (at most `max_images` per split when given)."""
    rng = np.random.default_rng(cfg.random_seed)
    chosen = {}
    for kind, part, offset in (("seen", prepared.lists["seen_test"], 0),
                               ("unseen", prepared.lists["unseen_test"], len(prepared.seen_ids))):
        order = np.arange(len(part.paths))
        if max_images and len(order) > max_images:
            order = np.sort(rng.choice(order, max_images, replace=False))
        show = set(rng.choice(len(order), min(len(order), (n_show + (kind == "seen")) // 2), replace=False).tolist())
        chosen[kind] = ([part.paths[i] for i in order], part.labels[order] + offset, show)
    return chosen


def faithfulness(naming, unseen, labels, n_seen, top_neurons):
    """How often the explanations are true of the class, on the unseen test images, against chance."""
    truth = naming.truth
    words_true, chance = explanation.precision_at_1(naming.inverse(unseen["true_alpha"]), [truth[c] for c in labels])
    classes = sorted(set(labels.tolist()))
    class_mean = np.stack([importance_map.unit_rows(unseen["true_alpha"][labels == c]).mean(0) for c in classes])
    names_true, names_chance = explanation.neuron_name_precision(class_mean, naming.coefficients,
                                                                 [truth[c] for c in classes], top_neurons)
    names_auc = explanation.neuron_name_auc(class_mean, naming.coefficients, [truth[c] for c in classes])
    as_unseen = unseen["predicted"] >= n_seen
    words_pred, pred_chance = explanation.precision_at_1(
        naming.inverse(unseen["pred_alpha"][as_unseen]), [truth[c] for c in unseen["predicted"][as_unseen]]) \
        if as_unseen.any() else (float("nan"), float("nan"))
    return {"mapped_word_true_of_class": {"unseen test, true-class importance": words_true, "chance": chance},
            "mapped_word_true_of_predicted_unseen_class": {"unseen test predicted unseen": words_pred,
                                                           "chance": pred_chance, "images": int(as_unseen.sum())},
            "top_neuron_names_true_of_class": {"unseen classes": names_true, "chance": names_chance,
                                               "neurons_per_class": top_neurons},
            "neuron_name_auc": {"unseen classes": names_auc, "chance": 0.5}}


def records_and_figures(out, cfg, layer, naming, results, n_seen, args):
    """The textual explanation of every image; Grad-CAM figures and page cards of the shown ones."""
    cards, records = [], []
    os.makedirs(os.path.join(out, "gradcam"))
    for kind, done in results.items():
        arrays, pixels, cams = done.arrays, done.pixels, done.cams
        mapped = naming.inverse(arrays["pred_alpha"])
        for i, (path, label) in enumerate(zip(done.paths, done.labels)):
            predicted = int(arrays["predicted"][i])
            record = {"image": path, "split": f"{kind} test", "true": naming.class_name[label],
                      "predicted": naming.class_name[predicted],
                      "predicted_kind": "unseen" if predicted >= n_seen else "seen",
                      **describe(arrays["pred_alpha"][i], mapped[i], naming.names, naming.neuron_table,
                                 args.top_neurons, args.top_names)}
            records.append(record)
            if i not in pixels:
                continue
            figure = os.path.join(out, "gradcam", f"{kind}_{i:05d}.png")
            panels = [(f"pred: {naming.class_name[predicted]}", cams[i][0])]
            if predicted != label:
                panels.append((f"true: {naming.class_name[label]}", cams[i][1]))
            plots.save_gradcam(figure, preprocessing.to_display(cfg.preprocess_fn, pixels[i]), panels,
                               f"{os.path.basename(path)} ({layer})")
            cards.append({"image": explanation.relative(figure, out), "true": record["true"],
                          "predicted": record["predicted"], "kind": f"{record['predicted_kind']} class, "
                          f"{kind} test image", "correct": predicted == label, "text": record["text"]})
    return records, cards


def summary_lines(cfg, layer, naming, accuracy, faith):
    words = faith["mapped_word_true_of_class"]
    names = faith["top_neuron_names_true_of_class"]
    return [f"{cfg.dataset} / {cfg.model_name} / {cfg.modality}; alpha layer {layer}. GZSL at gamma = 0 on the "
            f"explained images: S {accuracy['seen']:.3f}, U {accuracy['unseen']:.3f}.",
            f"Inverse map (importance -> {cfg.modality}): ridge lambda {naming.inverse.lam:g}, chosen on mod2alpha's "
            f"validation classes (mean cosine {naming.inverse.val_cosine:.3f}).",
            f"Unseen test images: the top mapped dimension of the true class's importance is true of the class for "
            f"{words['unseen test, true-class importance']:.1%} of the images (a random dimension: "
            f"{words['chance']:.1%}); the first names of each unseen class's {names['neurons_per_class']} most "
            f"important neurons are true of it {names['unseen classes']:.1%} of the time (chance "
            f"{names['chance']:.1%}); over all neurons, one whose first name is true of an unseen class is more "
            f"important to it than one whose name is not with probability "
            f"{faith['neuron_name_auc']['unseen classes']:.2f} (chance 0.50)."]


def write_outputs(out, cfg, layer, naming, report, summary, cards):
    fileio.write_lines(os.path.join(out, "neuron_names.tsv"), ["neuron\tname\tcoefficients"] + [
        f"{k}\t{', '.join(n for n, _ in row) or '-'}\t{', '.join(f'{c:.3f}' for _, c in row)}"
        for k, row in enumerate(naming.neuron_table)])
    fileio.write_text(os.path.join(out, "index.html"), explanation.html_page(
        f"NIWT explanations: {cfg.dataset} {cfg.model_name} {cfg.modality}", summary, cards, naming.neuron_table))
    fileio.write_json(os.path.join(out, "explanations.json"), {
        "dataset": cfg.dataset, "model_name": cfg.model_name, "modality": cfg.modality, "layer_name": layer,
        "inverse_map": {"lambda": naming.inverse.lam, "val_cosine": naming.inverse.val_cosine,
                        "grid": naming.inverse.grid,
                        "fitted_on": "seen trainval images' gt alphas -> z-scored class domain vectors"},
        "neuron_names": [[{"name": n, "coefficient": c} for n, c in row] for row in naming.neuron_table],
        **report})


@main_guard
def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    cfg = experiment.load(args.config, "alpha2w")
    if args.print_config:
        return config.print_resolved(cfg)
    layer = experiment.alpha_layer(cfg, nets_factory.get_spec(cfg.model_name), args.config)
    prepared = splits.load_prepared(cfg.prepared_dir)
    n_seen = len(prepared.seen_ids)
    head = trained_head(cfg, prepared, args.config)
    naming = load_naming(cfg, prepared, args.top_names, args.config)
    print(f"explain {cfg.dataset} {cfg.model_name} {cfg.modality}: inverse map {naming.coefficients.shape[0]} neurons "
          f"-> {len(naming.names)} dimensions, lambda {naming.inverse.lam:g}, val-class cosine "
          f"{naming.inverse.val_cosine:.3f}")
    chosen = images_to_explain(cfg, prepared, args.max_images, args.n_show)
    seen_order = class_order.seen_logit_order(cfg.seen_class_order, prepared.seen_ids, cfg.prepared_dir)
    model = Explainer(cfg, layer, n_seen, head, args.config, seen_order)
    results = {}
    with fileio.atomic_dir(os.path.join(cfg.ckpt_dir, "explanations")) as out, tf1.Session(graph=model.graph) as sess:
        with input_pipeline.naming_bad_images([p for paths, _, _ in chosen.values() for p in paths]):
            model.net.restore(sess)
            for kind, (image_paths, labels, show) in chosen.items():
                results[kind] = Explained(*model.explain(sess, image_paths, labels, show, f"{kind} test"),
                                          image_paths, labels)
        faith = faithfulness(naming, results["unseen"].arrays, results["unseen"].labels, n_seen, args.top_neurons)
        records, cards = records_and_figures(out, cfg, layer, naming, results, n_seen, args)
        accuracy = {kind: metrics.per_class_accuracy(r.labels, r.arrays["predicted"]) for kind, r in results.items()}
        summary = summary_lines(cfg, layer, naming, accuracy, faith)
        write_outputs(out, cfg, layer, naming, {
            "faithfulness": faith, "accuracy_gamma0": accuracy, "images": records,
            "config_path": os.path.abspath(args.config), "config": config.resolved_dict(cfg),
            "seconds": round(time.time() - start, 1)}, summary, cards)
    print("\n".join(summary))
    print(f"wrote {os.path.join(cfg.ckpt_dir, 'explanations')}: index.html, neuron_names.tsv, explanations.json, "
          f"{len(cards)} Grad-CAM figures")


if __name__ == "__main__":
    main()
