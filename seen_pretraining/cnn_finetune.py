"""Stage 1 of NIWT: finetune a slim network on the seen classes (`python cnn_finetune.py <config.json>`).

As in the original release: phase 1 trains only the new logits layer (Adam, `lr_fc`) with early stopping on seen-val
loss (patience `estop_fc`); phase 2, if `finetune_whole_cnn`, trains the whole network from phase 1's best checkpoint
(`lr_full`, `estop_full`). The best checkpoint by seen-val loss is kept in `<save_path>/best/`. A log10 range for
`lr_fc`, `lr_full` or `wt_dec` ("-4,-2") runs the grid and selects on seen-val loss only.

Phase 1 runs the network in inference mode and trains only its logits, a dense map of the penultimate features
(nets_factory.dense_logits), so with `cache_fc_features` (default) those features are computed once per image (or
for `fc_feature_views` augmented views) and the epochs train the logits on them: the same model, loss, early
stopping and checkpoints, without running the frozen trunk every epoch. The bank is shared by a grid's settings.
"""
import os
import shutil
import sys
import time

import numpy as np
from tqdm import tqdm

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import checkpoints, config, devices, fileio, input_pipeline, metrics, nets_factory, plots, seen_configs
from utils import feature_bank, provenance, run_state, splits
from utils.cli import UserError, main_guard
from utils.tf_compat import slim, tf, tf1
from utils.grids import grid, log10_grid
from utils.stopping import EarlyStopping


def check_config(cfg, source):
    spec = nets_factory.get_spec(cfg.model_name)
    if cfg.ckpt_path is None and not cfg.train_from_scratch:
        raise UserError(f"{source}: 'ckpt_path' is null; give a pretrained checkpoint or set 'train_from_scratch'")
    if cfg.num_epochs_fc <= 0 and not cfg.finetune_whole_cnn:
        raise UserError(f"{source}: nothing to train: 'num_epochs_fc' is 0 and 'finetune_whole_cnn' is false")
    if cfg.fc_phase_is_training and cfg.cache_fc_features:
        raise UserError(f"{source}: 'fc_phase_is_training' runs the trunk in training mode at every step, so its "
                        "features cannot be cached; set 'cache_fc_features' to false")
    return spec


class Run:
    """One hyperparameter setting trained phase by phase in `folder`, resumable from its state.json."""

    def __init__(self, cfg, spec, data, setting, folder, banks, strategy=None):
        """`banks`: the cached-feature banks (phase -> FeatureBank), shared by the runs of one config; `strategy`:
        the tf.distribute strategy of `distribute` (None: one device)."""
        self.cfg, self.spec, self.data, self.setting, self.folder = cfg, spec, data, setting, folder
        self.strategy = strategy
        self.banks, self.bank = banks, None
        self.state_path = os.path.join(folder, "state.json")
        self.state = fileio.read_json(self.state_path, "cnn_finetune.py (delete the run folder to start over)") \
            if os.path.isfile(self.state_path) else \
            {"phase": None, "epoch": 0, "best_val_loss": None, "bad_epochs": 0, "history": [], "best": None}
        self.check_owner()
        self.writer = None

    def check_owner(self):
        """A folder holding another config's run is refused rather than resumed and finalised as this one's."""
        self.state["run_of"] = run_state.owned(self.state.get("run_of"), run_state.owner(
            self.cfg.model_name, self.cfg.num_classes, self.data["train"]), self.state_path)

    def best_checkpoint(self):
        """The best checkpoint's prefix; state.json keeps it relative to the run folder, so a copied or moved
        folder finalises and resumes from its own files (an earlier version's absolute path still works)."""
        return os.path.join(self.folder, self.state["best"]["checkpoint"])

    def phases(self):
        cfg = self.cfg
        out = [("fc", cfg.num_epochs_fc, self.setting["lr_fc"], cfg.estop_fc)] if cfg.num_epochs_fc > 0 else []
        if cfg.finetune_whole_cnn:
            out.append(("full", cfg.num_epochs_full, self.setting["lr_full"], cfg.estop_full))
        return out

    def train(self):
        """Run the phases not yet finished; a re-run continues from the saved state (e.g. with more epochs)."""
        names = [p[0] for p in self.phases()]
        if self.state["history"]:
            print(f"resuming {self.folder} from its latest checkpoint ({self.state['phase']} phase, "
                  f"epoch {self.state['epoch']} done)")
        for name, epochs, lr, patience in self.phases():
            if self.state["phase"] in names and names.index(self.state["phase"]) > names.index(name):
                continue
            self.train_phase(name, epochs, lr, patience)
        return self

    def build(self, phase, lr):
        """The phase's graph; returns fn(sess) that starts it. `self.passes`: source (train, val, test,
        train_eval) -> (its iterator's initializer, fetches by name: train_op, loss, train_pred, labels for
        training; eval_xent, eval_pred, labels, features for evaluation and the feature bank). On one device one
        iterator serves every source; replicated (`distribute`), each source has a distributed iterator whose
        global batches the replicas share, and the per-image outputs are gathered in order (utils/devices.py)."""
        cfg, strategy = self.cfg, self.strategy
        tf1.set_random_seed(cfg.random_seed)
        # fed when a pass starts: each training epoch (and each augmented view of the bank) its own order and crops
        self.epoch = tf1.placeholder_with_default(tf.constant(0, tf.int64), [], name="epoch")

        def make(source, replicas=None):
            split, training = {"train": ("train", True), "train_eval": ("train", False)}.get(source, (source, False))
            return input_pipeline.image_dataset(
                self.data[split].paths, self.data[split].labels, cfg.preprocess_fn, cfg.image_size, cfg.batch_size,
                training, seed=cfg.random_seed, epoch=self.epoch, num_parallel_calls=cfg.num_workers,
                replicas=replicas)

        sources = ("train", "val", "test", "train_eval")
        whole = phase == "full"
        cached = not whole and cfg.cache_fc_features
        optimizer = tf1.train.AdamOptimizer(lr)
        self.cached, self.bank, self.passes = None, None, {}
        trains = {source: source == "train" and not cached for source in sources}  # else: evaluation fetches
        if strategy is None:
            datasets = {source: make(source) for source in sources}
            iterator = tf1.data.Iterator.from_structure(tf1.data.get_output_types(datasets["train"]),
                                                        tf1.data.get_output_shapes(datasets["train"]))
            images, labels, _ = iterator.get_next()
            fetches = self.step(images, labels, phase, optimizer, train=not cached)
            for source, dataset in datasets.items():
                self.passes[source] = (iterator.make_initializer(dataset), fetches[0 if trains[source] else 1])
        else:
            with strategy.scope(), devices.moving_averages_averaged():
                for source in sources:
                    iterator = devices.iterator(strategy, lambda replicas, source=source: make(source, replicas))
                    per_replica = strategy.experimental_run(
                        lambda inputs, train=trains[source]: devices.whole_batch(self.step(
                            inputs[0], inputs[1], phase, optimizer, train, evaluate=not train)[0 if train else 1],
                            cfg.batch_size),
                        iterator)
                    fetches = devices.combined(strategy, per_replica)
                    if trains[source]:  # every moving-average update (the replica threads share one collection)
                        fetches["train_op"] = tf.group(fetches["train_op"],
                                                       *tf1.get_collection(tf1.GraphKeys.UPDATE_OPS))
                    self.passes[source] = (iterator.initializer, fetches)
        if cached:  # the trunk's output is fed from the bank: only the logits run (replicated: each replica the batch)
            dim = self.passes["val"][1]["features"].shape[-1]
            self.cached = (tf1.placeholder(tf.float32, [None, dim], name="cached_features"),
                           tf1.placeholder(tf.int64, [None], name="cached_labels"))
            if strategy is None:
                self.passes["cached"] = (None, self.cached_step(phase, optimizer))
            else:
                with strategy.scope():
                    self.passes["cached"] = (None, devices.combined(strategy, strategy.extended.call_for_each_replica(
                        self.cached_step, args=(phase, optimizer)), gather=False))
        self.val_penalty = self.penalty(phase) if cfg.wt_dec_all_variables else tf.constant(0.0)
        self.beta_reset = checkpoints.beta_reinitializer() if cfg.reinit_batchnorm_beta else None
        self.latest_saver = tf1.train.Saver(max_to_keep=1)
        self.best_saver = tf1.train.Saver(slim.get_model_variables(), max_to_keep=1)
        return self.initializer(phase)

    def network(self, images, training):
        """The net in training or inference mode on `images` (variables shared by every call)."""
        cfg = self.cfg
        slim_decay = 0.0 if cfg.wt_dec_all_variables else self.setting["wt_dec"]
        net = nets_factory.get_network_fn(cfg.model_name, cfg.num_classes, slim_decay, is_training=training,
                                          dropout_keep_prob=cfg.dropout)
        with tf1.variable_scope(tf1.get_variable_scope(), reuse=tf1.AUTO_REUSE):
            return net(images)

    def penalty(self, phase):
        """The weight decay in the loss: slim's on the regularised weights of the trained layers, or the original's
        on every trainable variable (`wt_dec_all_variables`); computed from the variables this replica reads."""
        if self.cfg.wt_dec_all_variables:
            return self.setting["wt_dec"] * tf.add_n([tf.nn.l2_loss(v) for v in tf1.trainable_variables()])
        scope = None if phase == "full" else self.spec.logits_scope
        regularised = {r.op.name.split("/Regularizer/")[0] for r in tf1.losses.get_regularization_losses(scope)}
        weights = [v for v in tf1.trainable_variables() if checkpoints.variable_name(v) in regularised]
        return self.setting["wt_dec"] * tf.add_n([tf.nn.l2_loss(v) for v in weights]) if weights and \
            self.setting["wt_dec"] else tf.constant(0.0)

    def minimise(self, logits, labels, phase, optimizer, updates=()):
        """{train_op, loss, train_pred, labels}: one Adam step on cross-entropy + weight decay (gradients clipped
        to `clip_gradient_norm` where set); the moving averages of `updates` run with it."""
        trainable = tf1.trainable_variables() if phase == "full" else tf1.trainable_variables(self.spec.logits_scope)
        xent = tf1.losses.sparse_softmax_cross_entropy(labels, logits, loss_collection=None)
        penalty, replicas = self.penalty(phase), tf.distribute.get_strategy().num_replicas_in_sync
        if replicas == 1:
            objective = loss = xent + penalty
        else:  # the replicas' gradients are summed (the v1 optimizers do not scale the loss themselves): each takes
            # its images' share of the batch mean and 1 / replicas of the penalty; `loss`, averaged over the
            # replicas, is the batch's loss as on one device, also for an uneven last batch
            images = tf.cast(tf.shape(labels)[0], tf.float32)
            share = images / tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, images)
            objective, loss = xent * share + penalty / replicas, xent * share * replicas + penalty
        gradients = optimizer.compute_gradients(objective, var_list=trainable)
        if self.cfg.clip_gradient_norm is not None:
            clipped, _ = tf.clip_by_global_norm([g for g, _ in gradients], self.cfg.clip_gradient_norm)
            gradients = list(zip(clipped, [v for _, v in gradients]))
        with tf.control_dependencies(list(updates)):
            train_op = optimizer.apply_gradients(gradients)
        return {"train_op": train_op, "loss": loss, "train_pred": tf.argmax(logits, 1), "labels": labels}

    def step(self, images, labels, phase, optimizer, train=True, evaluate=True):
        """(training fetches, evaluation fetches) of a batch; the training net runs in training mode in phase 2
        (and in phase 1 with `fc_phase_is_training`), the evaluation net always in inference mode."""
        training_mode = phase == "full" or self.cfg.fc_phase_is_training
        fetches = [None, None]
        before = set(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS))
        logits, end_points = self.network(images, training_mode)
        if train:
            # the moving averages move wherever the net runs in training mode (the original's phase 1 too: slim's
            # create_train_op runs UPDATE_OPS)
            updates = [op for op in tf1.get_collection(tf1.GraphKeys.UPDATE_OPS) if op not in before] \
                if training_mode else []
            fetches[0] = self.minimise(logits, labels, phase, optimizer, updates)
        if evaluate:
            if training_mode:
                logits, end_points = self.network(images, False)
            fetches[1] = {**self.evaluation(logits, labels),
                          "features": nets_factory.penultimate_features(self.spec, end_points)}
        return fetches

    def cached_step(self, phase, optimizer):
        """The training and evaluation fetches of a batch of bank features: the logits layer alone."""
        features, labels = self.cached
        logits = nets_factory.dense_logits(self.spec, features)
        return {**self.minimise(logits, labels, phase, optimizer), **self.evaluation(logits, labels)}

    @staticmethod
    def evaluation(logits, labels):
        return {"eval_xent": tf1.losses.sparse_softmax_cross_entropy(labels, logits, loss_collection=None,
                                                                     reduction=tf1.losses.Reduction.NONE),
                "eval_pred": tf.argmax(logits, 1), "labels": labels}

    def initializer(self, phase):
        """fn(sess) that starts the phase: resume, continue from phase 1's best, or restore the pretrained net."""
        resuming = self.state["phase"] == phase and self.state["epoch"] > 0
        latest = os.path.join(self.folder, "latest")
        if resuming:
            saver = self.latest_saver
            return lambda sess: saver.restore(sess, tf1.train.latest_checkpoint(latest))
        if phase == "full" and self.state["best"]:
            return checkpoints.restore_fn(self.best_checkpoint())
        if self.cfg.ckpt_path is not None:
            return checkpoints.restore_fn(self.cfg.ckpt_path, exclude_scopes=[self.spec.logits_scope])
        return lambda sess: None

    def image_pass(self, sess, source, split, names, desc=None, epoch=0):
        """The fetches `names` of every batch of one pass of `source`'s image iterator over `split`'s images
        (`train` augments and shuffles, in the order and with the crops of `epoch`; `train_eval` does not)."""
        start, fetches = self.passes[source]
        sess.run(start, {self.epoch: epoch})
        fetches = {name: fetches[name] for name in names}
        n_batches = int(np.ceil(len(self.data[split].paths) / self.cfg.batch_size))
        return [sess.run(fetches) for _ in tqdm(range(n_batches), desc=desc, leave=False,
                                                disable=None if desc else True)]

    def one_pass(self, sess, split, names, desc=None, epoch=0):
        """The fetches `names` of every batch of one pass over `split`: from the image iterator or, cached, from the
        feature bank (training batches in a seeded order per epoch, cycling through its augmented views)."""
        if self.bank is None:
            return self.image_pass(sess, split, split, names, desc, epoch)
        features, labels = self.bank.view(split, epoch)
        order = np.random.default_rng([self.cfg.random_seed, epoch]).permutation(len(labels)) if split == "train" \
            else np.arange(len(labels))
        batches = [order[i:i + self.cfg.batch_size] for i in range(0, len(order), self.cfg.batch_size)]
        fetches = {name: self.passes["cached"][1][name] for name in names}
        return [sess.run(fetches, {self.cached[0]: features[b], self.cached[1]: labels[b]}) for b in batches]

    def evaluate(self, sess, split):
        names = ("eval_xent", "eval_pred", "labels")
        batches = self.one_pass(sess, split, names)
        losses, preds, labels = (np.concatenate([b[n] for b in batches]) for n in names)
        return float(np.mean(losses) + sess.run(self.val_penalty)), metrics.per_class_accuracy(labels, preds)

    def train_phase(self, phase, epochs, lr, patience):
        graph = tf.Graph()
        with graph.as_default():
            init_fn = self.build(phase, lr)
            init = tf1.global_variables_initializer()
        graph.finalize()
        resumed = self.state["phase"] == phase and self.state["epoch"] > 0  # from its own latest checkpoint
        if self.state["phase"] != phase:
            self.state.update(phase=phase, epoch=0, best_val_loss=None, bad_epochs=0)
        stopper = EarlyStopping(patience, self.state["best_val_loss"] or float("inf"), self.state["bad_epochs"])
        self.writer = tf1.summary.FileWriter(os.path.join(self.folder, "tensorboard"))
        all_paths = [p for lst in self.data.values() for p in lst.paths]
        with devices.session(self.strategy, graph) as sess, input_pipeline.naming_bad_images(all_paths):
            sess.run(init)
            init_fn(sess)
            if self.beta_reset is not None and not resumed:
                sess.run(self.beta_reset)
            if self.cached:
                if phase not in self.banks:
                    self.banks[phase] = feature_bank.FeatureBank.compute(self, sess)
                self.bank = self.banks[phase]
            while self.state["epoch"] < epochs and not stopper.should_stop:
                self.state["epoch"] += 1
                row = self.train_epoch(sess, phase, self.state["epoch"], epochs)
                phase_best = stopper.update(row["val_loss"])
                overall_best = self.state["best"]
                # the best over both phases (a phase-2 epoch worse than phase 1's best is not kept), or the
                # original's: each phase keeps its own best, so later stages read the last phase's
                improved = phase_best if self.cfg.best_of_last_phase else \
                    overall_best is None or row["val_loss"] < overall_best["val_loss"]
                if improved:
                    prefix = checkpoints.save_in(self.best_saver, sess, os.path.join(self.folder, "best"))
                    self.state["best"] = {**row, "checkpoint": os.path.relpath(prefix, self.folder)}
                self.state.update(best_val_loss=stopper.best, bad_epochs=stopper.bad_epochs)
                self.state["history"].append(row)
                checkpoints.save_in(self.latest_saver, sess, os.path.join(self.folder, "latest"))
                fileio.write_json(self.state_path, self.state)  # with this epoch's row: a resumed run has them all
                self.report(row, improved)
        self.writer.close()
        self.plot()

    def train_epoch(self, sess, phase, epoch, epochs):
        start = time.time()
        batches = self.one_pass(sess, "train", ("train_op", "loss", "train_pred", "labels"),
                                f"{phase} epoch {epoch}/{epochs}", epoch)
        losses, preds, labels = ([b[n] for b in batches] for n in ("loss", "train_pred", "labels"))
        val_loss, val_acc = self.evaluate(sess, "val")
        test_loss, test_acc = self.evaluate(sess, "test")
        return {"phase": phase, "epoch": epoch, "train_loss": float(np.mean(losses)),
                "train_acc": metrics.per_class_accuracy(np.concatenate(labels), np.concatenate(preds)),
                "val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss, "test_acc": test_acc,
                "seconds": round(time.time() - start, 1)}

    def report(self, row, improved):
        step = len(self.state["history"])
        plots.write_scalars(self.writer, row, ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc",
                                               "test_acc"), step)
        print(f"[{row['phase']} {row['epoch']:3d}] loss train {row['train_loss']:.4f} val {row['val_loss']:.4f} | "
              f"per-class acc train {row['train_acc']:.3f} val {row['val_acc']:.3f} test {row['test_acc']:.3f} | "
              f"{row['seconds']:.0f}s{'  *best val loss' if improved else ''}", flush=True)

    def plot(self):
        """loss.png and accuracy.png of every epoch so far: drawn once a phase ends (about 0.3 s a drawing; the
        scalars go to TensorBoard every epoch)."""
        history = self.state["history"]
        plots.plot_curves(os.path.join(self.folder, "loss.png"), history, ["train_loss", "val_loss"], "loss",
                          "cross-entropy (train includes weight decay)")
        plots.plot_curves(os.path.join(self.folder, "accuracy.png"), history, ["train_acc", "val_acc", "test_acc"],
                          "per-class top-1", "accuracy")


def load_lists(cfg, source):
    data = {k: splits.load_list(getattr(cfg, f"{k}_split_json")) for k in ("train", "val", "test")}
    n_classes = int(max(lst.labels.max() for lst in data.values())) + 1
    config.settle(cfg, "num_classes", n_classes, source, "the split lists' seen classes")
    return data


def finalize(save_path, chosen, summary):
    """Copy the chosen Run's best checkpoint to <save_path>/best and write test_perf.json."""
    best = chosen.state["best"]
    target = os.path.join(save_path, "best")
    source = os.path.dirname(chosen.best_checkpoint())
    if os.path.abspath(source) != os.path.abspath(target):  # a grid-search run: copy its best to <save_path>/best
        with fileio.atomic_dir(target) as tmp:
            for name in os.listdir(source):
                shutil.copy(os.path.join(source, name), tmp)
            tf1.train.update_checkpoint_state(tmp, "model.ckpt")  # relative: resolved inside <save_path>/best
    perf = {**summary, "best_checkpoint": os.path.join(target, "model.ckpt"),
            **{k: best[k] for k in ("phase", "epoch", "val_loss", "val_acc", "test_acc")},
            "provenance": provenance.record()}
    fileio.write_json(os.path.join(save_path, "test_perf.json"), perf)
    return perf


@main_guard
def main(argv=None):
    args = devices.stage_args(__doc__.splitlines()[0], argv, "JSON config (arg_configs/seen_finetune/)")
    config_path = args.config
    cfg = seen_configs.load_finetune(config_path)
    if args.print_config:
        return config.print_resolved(cfg)
    spec = check_config(cfg, config_path)
    strategy = devices.make_strategy(cfg.distribute, config_path)
    data = load_lists(cfg, config_path)
    searched = [k for k, used in (("lr_fc", cfg.num_epochs_fc > 0), ("lr_full", cfg.finetune_whole_cnn),
                                  ("wt_dec", True)) if used]  # a grid over a phase that does not run is skipped
    settings = grid({k: log10_grid(getattr(cfg, k), k, config_path) for k in searched})
    banks = {}
    if strategy is not None:
        print(f"{cfg.distribute}: {devices.replicas(strategy)} replicas share each batch of {cfg.batch_size}")
    with devices.worker_outputs(strategy, cfg.save_path, resume=True) as save_path:
        if len(settings) == 1:
            runs = [(settings[0], Run(cfg, spec, data, settings[0], save_path, banks, strategy).train())]
        else:
            runs = []
            for setting in settings:
                tag = "_".join(f"{k}={v:g}" for k, v in setting.items())
                print(f"hyperparameter search: {tag}")
                runs.append((setting, Run(cfg, spec, data, setting, os.path.join(save_path, "hsearch", tag),
                                          banks, strategy).train()))
            fileio.write_json(os.path.join(save_path, "hsearch_summary.json"), [
                {**setting, **{k: run.state["best"][k] for k in ("phase", "epoch", "val_loss", "val_acc")}}
                for setting, run in runs])
        setting, chosen = min(runs, key=lambda run: run[1].state["best"]["val_loss"])
        perf = finalize(save_path, chosen, {"config": config_path, "model_name": cfg.model_name,
                                            "num_classes": cfg.num_classes, "selected_on": "seen-val loss",
                                            **setting})
        print(f"best checkpoint {perf['best_checkpoint']} ({perf['phase']} epoch {perf['epoch']}): val loss "
              f"{perf['val_loss']:.4f}, per-class acc val {perf['val_acc']:.3f}, test {perf['test_acc']:.3f}")


if __name__ == "__main__":
    main()
