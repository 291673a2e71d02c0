"""Stage 3 of NIWT: learn domain knowledge -> neuron importances on seen classes (`python mod2alpha.py <cfg>`).

Training pairs are (domain vector of an image's class, that image's gt alpha) for `n_train_class` seen classes chosen
with the seed; the other seen classes validate. The epoch with the lowest val loss is chosen; the map is then trained
again on every seen class for that many epochs (`refit_all_seen`; the original keeps the chosen epoch's map). A
closed-form ridge map to the classes' mean unit alphas is fitted beside it (lambda chosen on the val classes, then
refitted on every seen class); the alphas alpha2w.py reads for EVERY class (seen and unseen), `class_alphas.npy`, are
the ridge map's (`class_alphas_from`, default "ridge") or the trained map's ("trained", the original's). With
`text2alpha_ckpt`, a released map of the original predicts them instead (utils/text2alpha.py), scored the same way.
"""
import os
import time

import numpy as np
from tqdm import tqdm

from utils import config, domain_vectors, experiment, fileio, importance_map, plots, splits, text2alpha
from utils.cli import UserError, config_args, main_guard
from utils.tf_compat import tf, tf1
from utils.grids import log10_grid


def split_classes(cfg, prepared, source):
    """Seeded choice of the seen classes that train the map; the rest validate it."""
    n_train = experiment.n_train_class(cfg, len(prepared.seen_ids))
    if not 0 < n_train < len(prepared.seen_ids):
        raise UserError(f"{source}: 'n_train_class' is {n_train}; it must leave validation classes among "
                        f"the {len(prepared.seen_ids)} seen classes (1..{len(prepared.seen_ids) - 1})")
    order = np.random.default_rng(cfg.random_seed).permutation(prepared.seen_ids)
    return sorted(order[:n_train].tolist()), sorted(order[n_train:].tolist())


class Trainer:
    """The graph of one mod2alpha run: the class-level cosine objective, or the original's per-image minibatches."""

    def __init__(self, cfg, class_vectors, train, n_train_images):
        self.cfg = cfg
        self.class_level = cfg.class_level_loss and cfg.alpha_loss_type == "cd" and cfg.dom2alpha_lambda_reg == 0
        self.steps_per_epoch = int(np.ceil(n_train_images / cfg.dom2alpha_batch_size))
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf1.set_random_seed(cfg.random_seed)
            table = tf.constant(class_vectors.astype(np.float32))
            net = importance_map.network(cfg, cfg.n_alphas)
            if self.class_level:
                self.epoch_losses = self.epoch_in_graph(
                    lambda: importance_map.class_level_cd_loss(net(tf.gather(table, train.classes)), train))
            else:
                dataset = tf.data.Dataset.from_tensor_slices((train.class_index, train.alphas.astype(np.float32)))
                dataset = dataset.shuffle(len(train.alphas), seed=cfg.random_seed, reshuffle_each_iteration=True)
                self.iterator = tf1.data.make_initializable_iterator(dataset.batch(cfg.dom2alpha_batch_size))
                rows, alphas = self.iterator.get_next()
                self.loss = importance_map.per_image_loss(net(tf.gather(table, rows)), alphas, cfg)
                self.train_op = tf1.train.AdamOptimizer(cfg.learning_rate).minimize(self.loss)
            self.all_predictions = net(table)
            self.saver = tf1.train.Saver(tf1.trainable_variables("dom2alpha"), max_to_keep=1)
            self.init = tf1.global_variables_initializer()
        self.graph.finalize()

    def epoch_in_graph(self, objective):
        """The class-level epoch as one graph loop: every step takes the exact gradient of the whole training
        objective (`objective()` builds it), so no data is fed and the steps_per_epoch Adam steps need no session call
        each (a step's work is a few microseconds, a session call about 0.4 ms). Each step's loss is taken before its
        update, as sess.run([train_op, loss]) gives it. Returns the epoch's step losses."""
        objective()  # makes the variables outside the loop (none can be made in one), with the same initial values
        optimizer = tf1.train.AdamOptimizer(self.cfg.learning_rate)

        def step(i, losses):
            loss = objective()
            with tf.control_dependencies([optimizer.minimize(loss)]):
                return i + 1, losses.write(i, loss)

        _, losses = tf.while_loop(lambda i, _: i < self.steps_per_epoch, step,
                                  [tf.constant(0), tf.TensorArray(tf.float32, self.steps_per_epoch)])
        return losses.stack()

    def epoch(self, sess):
        """One epoch: the original's number of Adam steps (training images / batch size); the mean step loss."""
        if self.class_level:
            return float(np.mean(sess.run(self.epoch_losses)))
        losses = []
        sess.run(self.iterator.initializer)
        while True:
            try:
                losses.append(sess.run([self.train_op, self.loss])[1])
            except tf.errors.OutOfRangeError:
                break
        return float(np.mean(losses))


def fit_ridge(cfg, vectors, train, val, source):
    """The closed-form ridge baseline; lambda from its grid by val loss (cosine distance)."""
    results = []
    for lam in log10_grid(cfg.ridge_lambda, "ridge_lambda", source):
        predictions = importance_map.ridge_predict(vectors, importance_map.ridge_fit(vectors, train, lam))
        results.append((importance_map.agreement(predictions, val), lam, predictions))
    metrics, lam, predictions = min(results, key=lambda r: r[0]["loss"])
    return {"lambda": lam, **metrics, "grid": [{"lambda": r[1], **r[0]} for r in results]}, predictions


def refit_map(cfg, vectors, seen, epochs, out):
    """The map trained again from its initial values on every seen class for the `epochs` the val classes chose: the
    classes held out to choose when to stop then teach it too (with 25 of 30 seen classes, which 5 the seed withheld
    moved a final run's ZSL T1 by up to 30 points). Its checkpoint replaces the chosen epoch's in `out`.
    Returns ({"classes", "images", "epochs", "train_loss"}, its predictions for every class)."""
    trainer = Trainer(cfg, vectors, seen, len(seen.alphas))
    with tf1.Session(graph=trainer.graph) as sess:
        sess.run(trainer.init)
        for _ in range(epochs):
            train_loss = trainer.epoch(sess)
        trainer.saver.save(sess, os.path.join(out, "model.ckpt"), write_meta_graph=False)
        return ({"classes": len(seen.classes), "images": len(seen.alphas), "epochs": epochs,
                 "train_loss": train_loss}, sess.run(trainer.all_predictions))


def report(epoch, train_loss, val, improved, seconds):
    print(f"[epoch {epoch:4d}] train loss {train_loss:.4f} | val loss {val['loss']:.4f} cosine {val['cosine']:.4f} "
          f"spearman {val['spearman']:.4f} | {seconds:.2f}s{'  *best val loss' if improved else ''}", flush=True)


def fit_map(cfg, trainer, sess, val, out):
    """The epochs; the checkpoint (in `out`) and predictions of the epoch with the lowest val-class loss are kept.
    Returns the initial val metrics, the history and the best epoch's row (with its predictions)."""
    sess.run(trainer.init)
    initial = importance_map.agreement(sess.run(trainer.all_predictions), val, cfg.alpha_loss_type, cfg.cdl1_reg)
    print(f"initial val loss {initial['loss']:.4f}; a val class's own mean alpha direction would reach cosine "
          f"{val.oracle_cosine:.4f}")
    history, best = [], None
    for epoch in tqdm(range(1, cfg.num_epochs + 1), desc="mod2alpha", leave=False, disable=None):
        epoch_start = time.time()
        train_loss = trainer.epoch(sess)
        predictions = sess.run(trainer.all_predictions)
        val_metrics = importance_map.agreement(predictions, val, cfg.alpha_loss_type, cfg.cdl1_reg)
        improved = best is None or val_metrics["loss"] < best["val_loss"]
        row = {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val_metrics.items()}}
        history.append(row)
        if improved:
            best = {**row, "predictions": predictions}
            trainer.saver.save(sess, os.path.join(out, "model.ckpt"), write_meta_graph=False)
        if epoch == 1 or epoch % 10 == 0 or epoch == cfg.num_epochs:
            report(epoch, train_loss, val_metrics, improved, time.time() - epoch_start)
    return initial, history, best


def released_map(cfg, vectors, val):
    """The alphas a released map of the original predicts for every class, scored on the val classes as a trained
    map's best epoch is: (its val metrics, no history, the row with its predictions)."""
    predictions = text2alpha.predict(cfg.text2alpha_ckpt, cfg.dom2alpha_model, vectors, cfg.n_alphas)
    metrics = importance_map.agreement(predictions, val, cfg.alpha_loss_type, cfg.cdl1_reg)
    return metrics, [], {"epoch": None, "train_loss": None, **{f"val_{k}": v for k, v in metrics.items()},
                         "predictions": predictions}


@main_guard
def main(argv=None):
    args = config_args(__doc__.splitlines()[0], argv, "experiment config (arg_configs/<net>_config_<DATASET>.json)")
    config_path = args.config
    start = time.time()
    cfg = experiment.load(config_path, "mod2alpha")
    if args.print_config:
        return config.print_resolved(cfg)
    prepared = splits.load_prepared(cfg.prepared_dir)
    vectors = domain_vectors.class_vectors(cfg, prepared.class_ids, prepared.class_names)
    config.settle(cfg, "n_attr", vectors.shape[1], config_path, f"the {cfg.modality} vectors")
    alphas, rows = importance_map.load_alphas(cfg, prepared, config_path)
    train_ids, val_ids = split_classes(cfg, prepared, config_path)
    row_of = {c: i for i, c in enumerate(prepared.class_ids)}
    in_train = np.isin(rows, [row_of[c] for c in train_ids])
    train = importance_map.AlphaTargets.build(rows[in_train], alphas[in_train])
    val = importance_map.AlphaTargets.build(rows[~in_train], alphas[~in_train])
    seen = importance_map.AlphaTargets.build(rows, alphas)
    print(f"mod2alpha {cfg.dataset} {cfg.modality} ({cfg.n_attr}-d) -> {cfg.n_alphas} alphas: {len(train_ids)} train "
          f"classes ({in_train.sum()} images), {len(val_ids)} val classes ({(~in_train).sum()} images), "
          f"{cfg.dom2alpha_model} model, {cfg.alpha_loss_type} loss")

    ridge, ridge_predictions = fit_ridge(cfg, vectors, train, val, config_path)
    print(f"ridge baseline (lambda {ridge['lambda']:g}): val cosine {ridge['cosine']:.4f} spearman "
          f"{ridge['spearman']:.4f}")
    refit = None
    with fileio.atomic_dir(cfg.dom2alpha_ckpt_dir) as out:
        if cfg.text2alpha_ckpt:
            objective, files = "a released map of the original (text2alpha_ckpt), not trained here", {}
            initial, history, best = released_map(cfg, vectors, val)
        else:
            trainer = Trainer(cfg, vectors, train, len(train.alphas))
            objective, files = "class-level" if trainer.class_level else "per-image", {"checkpoint": "model.ckpt"}
            print(f"{objective} objective, {trainer.steps_per_epoch} steps per epoch")
            with tf1.Session(graph=trainer.graph) as sess:
                initial, history, best = fit_map(cfg, trainer, sess, val, out)
            if cfg.refit_all_seen:
                refit, best["predictions"] = refit_map(cfg, vectors, seen, best["epoch"], out)
                print(f"refit on all {refit['classes']} seen classes ({refit['images']} images) for the chosen "
                      f"{refit['epochs']} epochs: train loss {refit['train_loss']:.4f}")
            tf1.train.update_checkpoint_state(out, "model.ckpt")  # relative, so the folder can be renamed
        if cfg.refit_all_seen:  # the ridge map too, whichever map alpha2w reads
            ridge_predictions = importance_map.ridge_predict(
                vectors, importance_map.ridge_fit(vectors, seen, ridge["lambda"]))
            print(f"the ridge map refitted on all seen classes at lambda {ridge['lambda']:g}")
        predicted = {"trained": best.pop("predictions").astype(np.float32),
                     "ridge": ridge_predictions.astype(np.float32)}
        read_by_alpha2w = "trained" if cfg.text2alpha_ckpt else cfg.class_alphas_from
        for name, alphas_of_map in predicted.items():
            fileio.write_npy(os.path.join(out, f"class_alphas_{name}.npy"), alphas_of_map)
        fileio.write_npy(os.path.join(out, "class_alphas.npy"), predicted[read_by_alpha2w])
        fileio.write_json(os.path.join(out, "mod2alpha.json"), {
            "dataset": cfg.dataset, "modality": cfg.modality, "n_attr": cfg.n_attr, "n_alphas": cfg.n_alphas,
            "class_ids": prepared.class_ids, "class_names": prepared.class_names, "seen_ids": prepared.seen_ids,
            "unseen_ids": prepared.unseen_ids, "train_class_ids": train_ids, "val_class_ids": val_ids,
            "objective": objective, "selected_on": "val-class loss", "initial_val": initial,
            "val_oracle_cosine": val.oracle_cosine, "best": best, "ridge": ridge, "refit_all_seen": refit,
            "history": history,
            "class_alphas_from": read_by_alpha2w,
            "files": {"class_alphas": "class_alphas.npy", "class_alphas_trained": "class_alphas_trained.npy",
                      "class_alphas_ridge": "class_alphas_ridge.npy", **files},
            "config_path": os.path.abspath(config_path), "config": config.resolved_dict(cfg),
            "seconds": round(time.time() - start, 1)})
        if history:
            plots.plot_curves(os.path.join(out, "curves.png"), history, ["val_loss", "val_cosine", "val_spearman"],
                              "value", f"mod2alpha {cfg.dataset} {cfg.modality}: validation classes")
    source = f"best epoch {best['epoch']}" if history else f"released map {cfg.text2alpha_ckpt}"
    print(f"wrote {cfg.dom2alpha_ckpt_dir}: {source}: val loss {best['val_loss']:.4f} cosine "
          f"{best['val_cosine']:.4f} spearman {best['val_spearman']:.4f}; ridge cosine {ridge['cosine']:.4f} "
          f"spearman {ridge['spearman']:.4f}; alpha2w reads the {read_by_alpha2w} map's alphas (class_alphas.npy)")

if __name__ == "__main__":
    main()
