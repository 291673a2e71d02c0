"""Stage 4 of NIWT: unseen-class weights from predicted neuron importances, and GZSL evaluation
(`python alpha2w.py --config_json arg_configs/<net>_config_<DATASET>.json`).

Load: mod2alpha's predicted alphas of the unseen classes, the probes, the finetuned seen head. Build: one graph of the
frozen network and a new unseen head on its penultimate features (utils/transfer_graph.py). Train: the head alone,
so that the importance of unseen class c at the alpha layer on the probes matches c's predicted alpha (cosine loss +
pull towards the mean seen weight), with early stopping on the epoch-mean loss (the original's per-iteration rule is a
switch); the epoch with the lowest mean training loss is kept; a validation run trains one head per tuning setting,
a final run one per reg_lambda of its balance search on its held-out seen images (utils/balance.py).
Score: every epoch on the test images' frozen outputs, ZSL T1, GZSL S / U / H at gamma = 0, AUSUC, and calibrated
stacking with a gamma chosen on a validation run (utils/gzsl_scoring.py). Write: the head, results.json, curves, and
the frozen features the baselines stage reads.
"""
import dataclasses
import os
import time

import numpy as np
from tqdm import tqdm

from utils import balance, calibration, checkpoints, config, experiment, fileio, gzsl_scoring, input_pipeline, metrics
from utils import class_order, nets_factory
from utils import domain_vectors, importance_map, plots, probes, provenance, splits, transfer_graph, tuning, unseen_head
from utils.cli import UserError, config_args, main_guard
from utils.tf_compat import tf1
from utils.stopping import UnseenHeadStopping


def predicted_alphas(cfg, prepared, channels, source):
    """mod2alpha's predicted alphas of the unseen classes [n_unseen, K], checked against the classes and the layer,
    and its mod2alpha.json (the seen classes it trained and validated on)."""
    path = os.path.join(cfg.dom2alpha_ckpt_dir, "class_alphas.npy")
    meta_path = os.path.join(cfg.dom2alpha_ckpt_dir, "mod2alpha.json")
    for needed in (path, meta_path):
        if not os.path.isfile(needed):
            raise UserError(f"{needed}: not found; run mod2alpha.py with {source} first ('dom2alpha_ckpt_dir')")
    alphas = fileio.require_finite(fileio.read_npy(path, "mod2alpha.py"), path, "redo mod2alpha.py (its map diverged: "
                                   "lower 'learning_rate')")
    meta = fileio.read_json(meta_path, "mod2alpha.py", ("class_ids", "dataset", "config", "seen_ids"))
    if meta["class_ids"] != prepared.class_ids:
        raise UserError(f"{meta_path}: its classes are not those of {cfg.prepared_dir}; run mod2alpha.py on it")
    trained_on = (meta["dataset"], meta["config"]["model_name"], meta["seen_ids"])
    if trained_on != (cfg.dataset, cfg.model_name, prepared.seen_ids):
        raise UserError(f"{meta_path}: a map trained on {meta['dataset']} {meta['config']['model_name']} "
                        f"({len(meta['seen_ids'])} seen classes), not on this config's {cfg.dataset} {cfg.model_name} "
                        f"({len(prepared.seen_ids)}); point 'dom2alpha_ckpt_dir' at mod2alpha's run of this config, "
                        "or leave it out")
    if alphas.ndim != 2 or alphas.shape[1] != channels:
        raise UserError(f"{path}: predicted alphas have {alphas.shape[-1]} channels but the alpha layer of "
                        f"{cfg.model_name} has {channels}; mod2alpha must learn alphas of this layer ('n_alphas')")
    return alphas[[prepared.class_ids.index(c) for c in prepared.unseen_ids]].astype(np.float32), meta


def make_examples(cfg, prepared, n_probes, rng, source):
    """(unseen class, probe index) per training example: `examples_per_class` for every unseen class, or the
    original's one per unseen test image label ("test_counts"); each example's probe drawn with the seed."""
    n_unseen = len(prepared.unseen_ids)
    if cfg.examples_per_class == "test_counts":
        counts = np.bincount(prepared.lists["unseen_test"].labels, minlength=n_unseen)
    elif isinstance(cfg.examples_per_class, int) and cfg.examples_per_class > 0:
        counts = np.full(n_unseen, cfg.examples_per_class)
    else:
        raise UserError(f"{source}: 'examples_per_class' is {cfg.examples_per_class!r}; give a positive integer or "
                        "\"test_counts\"")
    classes = np.repeat(np.arange(n_unseen), counts).astype(np.int32)
    return classes, rng.integers(0, n_probes, size=len(classes))


def calibration_record(cfg, prepared, source):
    """How the final run's calibrated stacking picks gamma (utils/calibration.py), or None. A validation run selects
    its own."""
    record = calibration.from_config(cfg.calibration_gamma, cfg.calibration_rule, prepared.info["split"], source)
    if record and "seen_rate" in record:
        for path in config.listed(cfg.calibration_gamma):
            chosen = fileio.read_json(path, "alpha2w.py on the validation config",
                                      ("model_name", "unseen_norm_matching"))
            if (chosen["model_name"], chosen["unseen_norm_matching"]) != (cfg.model_name, cfg.unseen_norm_matching):
                raise UserError(f"{path}: a validation run of {chosen['model_name']} with unseen_norm_matching "
                                f"{chosen['unseen_norm_matching']}; its gamma only fits the same setting")
    return record


def direct_baseline(cfg, setup, score, mod2alpha_meta):
    """Unseen weights from the experiment's domain vectors by a ridge map onto the seen head's weights (z-scored over
    the seen classes; lambda on mod2alpha's validation classes): what NIWT's route through importances is compared
    with, scored on the same frozen network and test images."""
    prepared = setup.prepared
    vectors = domain_vectors.class_vectors(cfg, prepared.class_ids, prepared.class_names)
    row = {c: i for i, c in enumerate(prepared.class_ids)}
    seen_rows = [row[c] for c in prepared.seen_ids]
    z = importance_map.standardised(vectors, seen_rows)
    seen_index = {c: i for i, c in enumerate(prepared.seen_ids)}
    weights, fit = unseen_head.direct_regression(z[seen_rows], z[[row[c] for c in prepared.unseen_ids]], setup.seen_w,
                                                 [seen_index[c] for c in mod2alpha_meta["train_class_ids"]],
                                                 [seen_index[c] for c in mod2alpha_meta["val_class_ids"]])
    biases = np.zeros(len(prepared.unseen_ids))
    metrics_row, _ = score(score.test_set.outputs, weights, biases, gamma=False)
    summary = {"lambda": fit["lambda"], "val_weight_cosine": fit["val_cosine"],
               **{k: metrics_row[k] for k in ("T1", "U", "S", "H", "AUSUC")}}
    return summary, score.scored(weights, biases)[0]


def train(cfg, model, sess, run, hyper, evaluate, writer, verbose):
    """The epochs of one head (one tuning setting `hyper`): shuffled examples, early stopping (per epoch, or the
    original's per iteration), evaluation, TensorBoard scalars; the epoch whose mean training loss is the lowest so
    far is kept (the original's checkpoint rule), in memory. Returns its history, the kept epoch ({row, raw, scored,
    curve}) and its progress."""
    classes, probe_index = run.examples
    rng = np.random.default_rng(cfg.random_seed)
    stopping, history, best_loss, kept = UnseenHeadStopping(cfg), [], np.inf, None
    iteration, steps_per_epoch, start_time = 0, int(np.ceil(len(classes) / cfg.batch_size)), time.time()
    for epoch in range(1, cfg.num_epochs + 1):
        epoch_start, order, losses = time.time(), rng.permutation(len(classes)), []
        if not run.cached:
            model.net.feed(sess, run.probe_source[probe_index[order]] if isinstance(run.probe_source, np.ndarray)
                           else [run.probe_source[i] for i in probe_index[order]])
        for start in tqdm(range(0, len(order), cfg.batch_size), desc=f"epoch {epoch}", leave=False, disable=None):
            batch = order[start:start + cfg.batch_size]
            feed_cached = {k: v[probe_index[batch]] for k, v in run.probe_source.items()} if run.cached else None
            losses.append(model.step(sess, classes[batch], run.class_alphas[classes[batch]], feed_cached, hyper))
            iteration += 1
            stopping.after_step(losses[-1]["loss"])
            if stopping.should_stop:
                break
        train_seconds = time.time() - epoch_start
        row = {"epoch": epoch, "iteration": iteration,
               **{key: float(np.mean([step[key] for step in losses])) for key in losses[0]}}
        evaluated, curve, head = evaluate(sess)
        row.update(evaluated, seconds_train=round(train_seconds, 3), seconds_epoch=round(time.time() - epoch_start, 3))
        history.append(row)
        stopping.after_epoch(row["loss"])
        plots.write_scalars(writer, row, [k for k in row if k not in ("epoch", "iteration")], epoch)
        improved = row["loss"] <= best_loss
        if improved:
            best_loss, kept = row["loss"], {"row": row, "curve": curve, **head}
        if verbose and (epoch == 1 or improved or epoch % 10 == 0 or stopping.should_stop):
            cal = f" | calibrated H {row['H_cal']:.3f}" if "H_cal" in row else ""
            print(f"[epoch {epoch:3d}] loss {row['loss']:.4f} (cosine {row['alpha_loss']:.4f}, reg "
                  f"{row['reg_loss']:.2f}) | T1 {row['T1']:.3f} | U {row['U']:.3f} S {row['S']:.3f} H {row['H']:.3f}"
                  f"{cal} | AUSUC {row['AUSUC']:.3f} | {row['seconds_epoch']:.2f}s{'  *kept' if improved else ''}",
                  flush=True)
        if stopping.should_stop:
            if verbose:
                print(f"early stop at iteration {iteration} (epoch {epoch}): {stopping.describe()}")
            break
    return history, kept, {"stopped_early": stopping.should_stop, "stopping_rule": cfg.zsl_loss_estop_rule,
                           "iterations": iteration, "steps_per_epoch": steps_per_epoch,
                           "seconds_train": round(time.time() - start_time, 1)}


def table_row(cfg, kept, calibrated):
    cells = [cfg.dataset, cfg.model_name, cfg.modality] + [f"{100 * kept[k]:.1f}" for k in ("T1", "U", "S", "H")]
    cells += [f"{100 * kept['H_cal']:.1f}" if calibrated else "-", f"{100 * kept['AUSUC']:.1f}"]
    return "| " + " | ".join(cells) + " |"


@dataclasses.dataclass
class Setup:
    """What one alpha2w run starts from, loaded and checked: the layer, classes, calibration, probes and training
    examples, and the finetuned seen head (its weights initialise and regularise the unseen head)."""
    spec: nets_factory.NetSpec
    layer: str
    prepared: splits.PreparedSplits
    gamma: dict            # calibrated stacking's record (utils/calibration.from_config), or None
    probe_set: probes.Probes
    examples: tuple        # (unseen class, probe index) per training example
    seen_order: list       # the finetuned network's logit of each seen class (class_order.seen_logit_order)
    seen_w: np.ndarray     # [D, n_seen]
    seen_b: np.ndarray
    init_w: np.ndarray     # [D, n_unseen]
    settings: list         # the (learning_rate, reg_lambda) of each head trained: a validation run's grid, or one
    balance: dict          # a final run's reg_lambda search towards a held-out seen share (utils/balance.py), or None

    @property
    def n_seen(self):
        return len(self.prepared.seen_ids)


def load_setup(cfg, source):
    spec = nets_factory.get_spec(cfg.model_name)
    layer = experiment.alpha_layer(cfg, spec, source)
    prepared = splits.load_prepared(cfg.prepared_dir)
    gamma = calibration_record(cfg, prepared, source)
    rng = np.random.default_rng(cfg.random_seed)
    probe_set = probes.sample(cfg, prepared, rng, source)
    examples = make_examples(cfg, prepared, len(probe_set), rng, source)
    seen_order = class_order.seen_logit_order(cfg.seen_class_order, prepared.seen_ids, cfg.prepared_dir)
    seen_w, seen_b = unseen_head.seen_head(checkpoints.checkpoint_prefix(cfg.ckpt_path), spec.logits_scope,
                                           len(prepared.seen_ids), seen_order)
    if cfg.zero_seen_biases:  # as the frozen net scores the seen classes (FrozenNet)
        seen_b = np.zeros_like(seen_b)
    init_w = unseen_head.initial_weights(seen_w, len(prepared.unseen_ids), cfg.unseen_w_init, rng)
    if prepared.info["split"] != "proposed" and cfg.tuning_grid:
        settings = tuning.grid(cfg)
    else:
        settings = [tuning.from_validation_run(cfg, prepared, os.path.abspath(source))]
    balance_target = balance.target(cfg, prepared, settings, tuning.validation_runs(cfg, prepared, source), source)
    return Setup(spec, layer, prepared, gamma, probe_set, examples, seen_order, seen_w, seen_b, init_w, settings,
                 balance_target)


@dataclasses.dataclass
class TrainingData:
    """What every tuning setting trains on: the examples, their predicted alphas, and the probes (their frozen
    values at the cache points on the cached path, else their images or pixels)."""
    examples: tuple
    class_alphas: np.ndarray
    probe_source: object
    cached: bool


def train_heads(setup, fit, score):
    """The heads of one run and the one kept: a validation run's grid (the highest H), a final run's reg_lambda
    search towards its validation runs' held-out seen share (utils/balance.py), or its one setting. `fit(hyper)`
    trains a head. Returns (the fits in training order, the chosen one)."""
    if setup.balance is not None:
        def fit_at(reg_lambda):
            fitted = fit({**setup.settings[0], "reg_lambda": reg_lambda})
            heldout = score.heldout_scores(*fitted["kept"]["raw"])
            fitted["heldout_unseen_rate"] = calibration.unseen_rate(heldout, setup.n_seen, 0.0)
            fitted["heldout_images"] = len(heldout)
            print(f"  {tuning.describe(fitted['hyper'], fitted['kept'])} | held-out seen images to unseen "
                  f"{fitted['heldout_unseen_rate']:.3f}", flush=True)
            return fitted

        fits, chosen = balance.search(fit_at, setup.settings[0]["reg_lambda"], setup.balance["seen_rate"])
        print(f"balanced on held-out seen images (target {setup.balance['seen_rate']:.3f}): {balance.describe(chosen)}")
        return fits, chosen
    fits = [fit(hyper) for hyper in setup.settings]
    if len(fits) == 1:
        return fits, fits[0]
    for tuned in fits:
        print(f"  {tuning.describe(tuned['hyper'], tuned['kept'])}", flush=True)
    chosen = tuning.select(fits)
    print(f"selected by {tuning.CRITERION}: {tuning.describe(chosen['hyper'], chosen['kept'])}", flush=True)
    return fits, chosen


def fit_unseen_head(cfg, setup, model, sess, class_alphas, out, start_time):
    """Precompute the frozen outputs, evaluate the initial head, train the run's heads (train_heads: one, a
    validation run's tuning grid, or a final run's balance search) and keep the selected one; its kept epoch's head is
    saved in `out`."""
    cached, test_set = cfg.cache_frozen_features, gzsl_scoring.TestSet(setup.prepared, setup.n_seen)
    score = gzsl_scoring.Scorer(cfg, setup, test_set)
    model.start(sess)
    precompute_start = time.time()
    probe_source = setup.probe_set.pixels if setup.probe_set.paths is None else setup.probe_set.paths
    if cached:
        probe_source = model.net.run(sess, probe_source, model.cache_points, "probe activations")
    test_set.frozen_outputs(model, sess, recompute=False)
    precompute_seconds = time.time() - precompute_start
    seen_head_accuracy = metrics.per_class_accuracy(test_set.seen.labels,
                                                    np.argmax(test_set.outputs[0]["seen_logits"], 1))
    run = TrainingData(setup.examples, class_alphas, probe_source, cached)

    def evaluate(sess):
        raw = sess.run([model.weights, model.biases])
        row, curve = score(test_set.frozen_outputs(model, sess, recompute=not cached), *raw)
        return row, curve, {"raw": raw, "scored": score.scored(*raw)}

    initial = evaluate(sess)[0]
    print(f"initial unseen head ({cfg.unseen_w_init}): T1 {initial['T1']:.3f} | U {initial['U']:.3f} S "
          f"{initial['S']:.3f} H {initial['H']:.3f} | seen head alone on seen test {seen_head_accuracy:.3f} | "
          f"frozen features in {precompute_seconds:.1f}s")
    tuned = len(setup.settings) > 1 or setup.balance is not None

    def fit(hyper):
        model.reset(sess)
        folder = os.path.join(out, "tensorboard", *([tuning.setting_name(hyper)] if tuned else []))
        writer = tf1.summary.FileWriter(folder)
        history, kept, progress = train(cfg, model, sess, run, hyper, evaluate, writer, verbose=not tuned)
        writer.close()
        return {"hyper": hyper, "history": history, "kept": kept, "progress": progress}

    fits, chosen = train_heads(setup, fit, score)
    model.keep(sess, *chosen["kept"]["raw"])
    model.saver.save(sess, os.path.join(out, "unseen_head.ckpt"), write_meta_graph=False)
    tf1.train.update_checkpoint_state(out, "unseen_head.ckpt")
    return {**chosen, "fits": fits, "initial": initial, "seen_head_accuracy": seen_head_accuracy,
            "seconds_precompute": round(precompute_seconds, 1), "score": score,
            "seconds_total": round(time.time() - start_time, 1)}


def results_record(cfg, setup, fit, direct, config_path):
    """results.json: the kept epoch's metrics, calibration (used, or selected on this validation run), baseline."""
    kept, progress, history = fit["kept"]["row"], fit["progress"], fit["history"]
    results = {"dataset": cfg.dataset, "model_name": cfg.model_name, "modality": cfg.modality,
               "layer_name": setup.layer, "split": setup.prepared.info["split"], "n_seen": setup.n_seen,
               "n_unseen": len(setup.prepared.unseen_ids), "unseen_norm_matching": cfg.unseen_norm_matching,
               "path": "cached" if cfg.cache_frozen_features else "full", "probes": setup.probe_set.description,
               "n_examples": len(setup.examples[0]), "seen_head_accuracy": fit["seen_head_accuracy"],
               "initial": fit["initial"], "kept_epoch": kept["epoch"], "kept": kept,
               "gamma0": {k: kept[k] for k in ("T1", "U", "S", "H")}, "AUSUC": kept["AUSUC"],
               "direct_regression_baseline": direct, "history": history, **progress,
               "hyperparameters": {"chosen_by": "this validation run's tuning grid (tuning)", **fit["hyper"]},
               "seconds_precompute": fit["seconds_precompute"],
               "seconds_total": fit["seconds_total"],
               "seconds_per_step": round(sum(r["seconds_train"] for r in history) / max(progress["iterations"], 1), 5)}
    marks = {"gamma 0": (kept["U"], kept["S"])}
    if setup.gamma:
        results["calibration"] = {**setup.gamma, **{k: kept[f"{k}_cal"] for k in ("gamma", "S", "U", "H")}}
        marks[f"gamma {kept['gamma_cal']:.3g}"] = (kept["U_cal"], kept["S_cal"])
        if "seen_rate" in setup.gamma:  # the other rule on the same head, for the record (never selected on)
            other = {**setup.gamma, "rule": next(r for r in calibration.RULES if r != setup.gamma["rule"])}
            row, _ = fit["score"](fit["score"].test_set.outputs, *fit["kept"]["raw"], rule=other)
            results["calibration"]["other_rule"] = {"rule": other["rule"],
                                                    **{k: row[f"{k}_cal"] for k in ("gamma", "S", "U", "H")}}
    if setup.prepared.info["split"] != "proposed":
        selected, at = metrics.best_gamma(fit["kept"]["curve"])
        heldout = fit["score"].heldout_scores(*fit["kept"]["raw"])
        results["calibration"] = {**calibration.selection(selected, heldout, setup.n_seen),
                                  "selected_on": f"this validation run "
                                  f"({setup.prepared.info['split']}: val classes as unseen)", **at}
        marks[f"selected gamma {selected:.3g}"] = (at["U"], at["S"])
    if setup.balance is not None:
        results["balance"] = balance.record(setup.balance, fit["fits"], fit)
        results["hyperparameters"]["reg_lambda_chosen_by"] = "this run's balance search on its held-out seen images " \
                                                             "(balance)"
    elif len(fit["fits"]) > 1:
        results["tuning"] = tuning.record(fit["fits"], fit)
    results["table_row"] = table_row(cfg, kept, setup.gamma is not None)
    results.update(config_path=os.path.abspath(config_path), config=config.resolved_dict(cfg),
                   provenance=provenance.record())
    return results, marks


def write_outputs(out, cfg, setup, fit, results, marks, features, direct_weights):
    kept = fit["kept"]
    np.savez(os.path.join(out, "unseen_head.npz"), weights=kept["raw"][0], biases=kept["raw"][1],
             scored_weights=kept["scored"][0], scored_biases=kept["scored"][1], seen_weights=setup.seen_w,
             seen_biases=setup.seen_b, unseen_ids=np.array(setup.prepared.unseen_ids),
             seen_ids=np.array(setup.prepared.seen_ids), direct_weights=direct_weights)
    np.savez(os.path.join(out, "features.npz"), **features)
    fileio.write_json(os.path.join(out, "results.json"), results)
    title = f"alpha2w {cfg.dataset} {cfg.model_name} {cfg.modality}"
    plots.plot_curves(os.path.join(out, "accuracy.png"), fit["history"], ["T1", "U", "S", "H"], "per-class top-1",
                      title)
    plots.plot_curves(os.path.join(out, "loss.png"), fit["history"], ["loss", "alpha_loss"], "mean training loss",
                      title)
    plots.plot_seen_unseen_curve(os.path.join(out, "seen_unseen_curve.png"), kept["curve"], kept["row"]["AUSUC"],
                                 marks, f"{title}, epoch {kept['row']['epoch']}")


def print_summary(cfg, results):
    direct = results["direct_regression_baseline"]
    print(f"wrote {cfg.ckpt_dir}: kept epoch {results['kept_epoch']} of {len(results['history'])}"
          f"{' (early stop)' if results['stopped_early'] else ''}, {results['seconds_per_step'] * 1000:.1f} ms per "
          "step")
    print(f"baseline, domain -> weights by ridge (lambda {direct['lambda']:g}, held-out seen classes' weight cosine "
          f"{direct['val_weight_cosine']:.3f}), same features: T1 {direct['T1']:.3f} | U {direct['U']:.3f} S "
          f"{direct['S']:.3f} H {direct['H']:.3f} | AUSUC {direct['AUSUC']:.3f}")
    print("| dataset | net | modality | T1 | U | S | H | H (calibrated) | AUSUC |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(results["table_row"])


@main_guard
def main(argv=None):
    args = config_args(__doc__.splitlines()[0], argv, "experiment config (arg_configs/<net>_config_<DATASET>.json)")
    start_time = time.time()
    cfg = experiment.load(args.config, "alpha2w")
    if args.print_config:
        return config.print_resolved(cfg)
    setup = load_setup(cfg, args.config)
    model = transfer_graph.Alpha2W(cfg, setup.spec, setup.layer, setup.n_seen, setup.init_w, setup.seen_w.mean(1),
                                   args.config, seen_order=setup.seen_order)
    channels = int(model.activations.shape[-1])
    class_alphas, mod2alpha_meta = predicted_alphas(cfg, setup.prepared, channels, args.config)
    config.settle(cfg, "n_alphas", channels, args.config, f"the channels of {setup.layer}")
    print(f"alpha2w {cfg.dataset} {cfg.model_name} {cfg.modality}: {len(setup.prepared.unseen_ids)} unseen classes, "
          f"{len(setup.examples[0])} examples on {setup.probe_set.description}; "
          f"{'cached' if cfg.cache_frozen_features else 'full-network (original)'} path, {cfg.optimizer}, batch "
          f"{cfg.batch_size}; " + (f"tuning {len(setup.settings)} settings of learning_rate x reg_lambda on this "
                                   "validation run" if len(setup.settings) > 1 else
                                   f"learning_rate {setup.settings[0]['learning_rate']:.3g}, reg_lambda "
                                   f"{setup.settings[0]['reg_lambda']:.3g} (from {setup.settings[0]['chosen_by']})")
          + (f"; calibrated stacking by {setup.gamma['rule']}" if setup.gamma else ""))
    image_paths = (setup.probe_set.paths or []) + setup.prepared.lists["seen_test"].paths + \
        setup.prepared.lists["unseen_test"].paths
    with fileio.atomic_dir(cfg.ckpt_dir) as out, tf1.Session(graph=model.graph) as sess, \
            input_pipeline.naming_bad_images(image_paths):
        fit = fit_unseen_head(cfg, setup, model, sess, class_alphas, out, start_time)
        direct, direct_weights = direct_baseline(cfg, setup, fit["score"], mod2alpha_meta)
        results, marks = results_record(cfg, setup, fit, direct, args.config)
        features = gzsl_scoring.frozen_features(model, sess, setup, fit["score"].test_set)
        write_outputs(out, cfg, setup, fit, results, marks, features, direct_weights)
    print_summary(cfg, results)


if __name__ == "__main__":
    main()
