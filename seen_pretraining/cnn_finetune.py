"""Stage 1 of NIWT: finetune a slim network on the seen classes (`python cnn_finetune.py <config.json>`).

As in the original release: phase 1 trains only the new logits layer (Adam, `lr_fc`) with early stopping on seen-val
loss (patience `estop_fc`); phase 2, if `finetune_whole_cnn`, trains the whole network from phase 1's best checkpoint
(`lr_full`, `estop_full`). The best checkpoint by seen-val loss is kept in `<save_path>/best/`. A log10 range for
`lr_fc`, `lr_full` or `wt_dec` ("-4,-2") runs the grid and selects on seen-val loss only.
"""
import os
import shutil
import time

import numpy as np
from tqdm import tqdm

from utils import checkpoints, config, input_pipeline, io, metrics, nets_factory, plots, splits
from utils.cli import UserError, config_path_from_args, main_guard
from utils.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Field, Range
from utils.tf_compat import slim, tf, tf1
from utils.training import EarlyStopping, grid, log10_grid

SCHEMA = {
    "train_split_json": Field((str,), help="prepared seen_train list"),
    "val_split_json": Field((str,), help="prepared seen_val list"),
    "test_split_json": Field((str,), help="prepared seen_test list"),
    **nets_factory.MODEL_FIELDS,
    "layer_name": Field((str,), help="the logits layer re-initialised for the seen classes, e.g. fc8"),
    "num_classes": Field((int,), valid=AT_LEAST_ONE),
    "batch_size": Field((int,), valid=AT_LEAST_ONE),
    "num_workers": Field((int,), valid=AT_LEAST_ONE),
    "wt_dec": Field((float, str), valid=NON_NEGATIVE),
    "dropout": Field((float,), valid=Range(0, 1, low_open=True), help="keep probability of the net's dropout layers (none in resnet_v1)"),
    "ckpt_path": Field((str, type(None)), help="pretrained checkpoint restored without the logits scope"),
    "train_from_scratch": Field((bool,), default=False, help="allowed only when said explicitly"),
    "lr_fc": Field((float, str), valid=POSITIVE),
    "lr_full": Field((float, str), valid=POSITIVE),
    "save_path": Field((str,)),
    "finetune_whole_cnn": Field((bool,)),
    "estop_fc": Field((int,), valid=AT_LEAST_ONE),
    "estop_full": Field((int,), valid=AT_LEAST_ONE),
    "num_epochs_fc": Field((int,), valid=NON_NEGATIVE),
    "num_epochs_full": Field((int,), valid=NON_NEGATIVE),
    "random_seed": Field((int,), valid=NON_NEGATIVE),
}


def check_config(cfg, source):
    spec = nets_factory.spec_from_config(cfg, source)
    if spec.logits_scope.split("/")[-1] != cfg.layer_name:
        raise UserError(f"{source}: 'layer_name' of {cfg.model_name} is '{spec.logits_scope.split('/')[-1]}'")
    if cfg.ckpt_path is None and not cfg.train_from_scratch:
        raise UserError(f"{source}: 'ckpt_path' is null; give a pretrained checkpoint or set 'train_from_scratch'")
    if cfg.num_epochs_fc <= 0 and not cfg.finetune_whole_cnn:
        raise UserError(f"{source}: nothing to train: 'num_epochs_fc' is 0 and 'finetune_whole_cnn' is false")
    return spec


class Run:
    """One hyperparameter setting trained phase by phase in `folder`, resumable from its state.json."""

    def __init__(self, cfg, spec, data, setting, folder):
        self.cfg, self.spec, self.data, self.setting, self.folder = cfg, spec, data, setting, folder
        self.state_path = os.path.join(folder, "state.json")
        self.state = io.read_json(self.state_path) if os.path.isfile(self.state_path) else \
            {"phase": None, "epoch": 0, "best_val_loss": None, "bad_epochs": 0, "history": [], "best": None}
        self.writer = None

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
        return self.state

    def build(self, phase, lr):
        cfg, spec = self.cfg, self.spec
        tf1.set_random_seed(cfg.random_seed)
        make = lambda lst, training: input_pipeline.image_dataset(  # noqa: E731
            lst.paths, lst.labels, cfg.preprocess_fn, cfg.image_size, cfg.batch_size, training,
            seed=cfg.random_seed, num_parallel_calls=cfg.num_workers)
        datasets = {"train": make(self.data["train"], True), "val": make(self.data["val"], False),
                    "test": make(self.data["test"], False)}
        iterator = tf1.data.Iterator.from_structure(tf1.data.get_output_types(datasets["train"]),
                                                    tf1.data.get_output_shapes(datasets["train"]))
        self.init_ops = {k: iterator.make_initializer(d) for k, d in datasets.items()}
        images, labels, _ = iterator.get_next()
        whole = phase == "full"
        net = nets_factory.get_network_fn(cfg.model_name, cfg.num_classes, self.setting["wt_dec"],
                                          is_training=whole, dropout_keep_prob=cfg.dropout)
        train_logits, _ = net(images)
        if whole:
            eval_net = nets_factory.get_network_fn(cfg.model_name, cfg.num_classes, is_training=False)
            with tf1.variable_scope(tf1.get_variable_scope(), reuse=True):
                eval_logits, _ = eval_net(images)
        else:
            eval_logits = train_logits
        trainable = tf1.trainable_variables() if whole else tf1.trainable_variables(spec.logits_scope)
        xent = tf1.losses.sparse_softmax_cross_entropy(labels, train_logits)
        reg = tf1.losses.get_regularization_losses(None if whole else spec.logits_scope)
        loss = xent + tf.add_n(reg) if reg else xent
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS) if whole else []
        with tf.control_dependencies(updates):
            self.train_op = tf1.train.AdamOptimizer(lr).minimize(loss, var_list=trainable)
        self.tensors = {"loss": loss, "labels": labels, "train_pred": tf.argmax(train_logits, 1),
                        "eval_xent": tf1.losses.sparse_softmax_cross_entropy(labels, eval_logits, loss_collection=None,
                                                                              reduction=tf1.losses.Reduction.NONE),
                        "eval_pred": tf.argmax(eval_logits, 1)}
        self.latest_saver = tf1.train.Saver(max_to_keep=1)
        self.best_saver = tf1.train.Saver(slim.get_model_variables(), max_to_keep=1)
        return self.initializer(phase)

    def initializer(self, phase):
        """fn(sess) that starts the phase: resume, continue from phase 1's best, or restore the pretrained net."""
        resuming = self.state["phase"] == phase and self.state["epoch"] > 0
        latest = os.path.join(self.folder, "latest")
        if resuming:
            saver = self.latest_saver
            return lambda sess: saver.restore(sess, tf1.train.latest_checkpoint(latest))
        if phase == "full" and self.state["best"]:
            return checkpoints.restore_fn(self.state["best"]["checkpoint"])
        if self.cfg.ckpt_path is not None:
            return checkpoints.restore_fn(self.cfg.ckpt_path, exclude_scopes=[self.spec.logits_scope])
        return lambda sess: None

    def evaluate(self, sess, split):
        sess.run(self.init_ops[split])
        losses, preds, labels = [], [], []
        while True:
            try:
                xent, pred, label = sess.run([self.tensors["eval_xent"], self.tensors["eval_pred"],
                                              self.tensors["labels"]])
            except tf.errors.OutOfRangeError:
                break
            losses.append(xent), preds.append(pred), labels.append(label)
        labels, preds = np.concatenate(labels), np.concatenate(preds)
        return float(np.mean(np.concatenate(losses))), metrics.per_class_accuracy(labels, preds)

    def train_phase(self, phase, epochs, lr, patience):
        graph = tf.Graph()
        with graph.as_default():
            init_fn = self.build(phase, lr)
            init = tf1.global_variables_initializer()
        graph.finalize()
        if self.state["phase"] != phase:
            self.state.update(phase=phase, epoch=0, best_val_loss=None, bad_epochs=0)
        stopper = EarlyStopping(patience, self.state["best_val_loss"] or float("inf"), self.state["bad_epochs"])
        self.writer = tf1.summary.FileWriter(os.path.join(self.folder, "tensorboard"))
        all_paths = [p for lst in self.data.values() for p in lst.paths]
        with tf1.Session(graph=graph) as sess, input_pipeline.naming_bad_images(all_paths):
            sess.run(init)
            init_fn(sess)
            while self.state["epoch"] < epochs and not stopper.should_stop:
                self.state["epoch"] += 1
                row = self.train_epoch(sess, phase, self.state["epoch"], epochs)
                stopper.update(row["val_loss"])
                overall_best = self.state["best"]
                improved = overall_best is None or row["val_loss"] < overall_best["val_loss"]
                if improved:  # the best over both phases: a phase-2 epoch worse than phase 1's best is not kept
                    prefix = self.best_saver.save(sess, os.path.join(self.folder, "best", "model.ckpt"))
                    self.state["best"] = {**row, "checkpoint": prefix}
                self.state.update(best_val_loss=stopper.best, bad_epochs=stopper.bad_epochs)
                self.latest_saver.save(sess, os.path.join(self.folder, "latest", "model.ckpt"))
                io.write_json(self.state_path, self.state)
                self.report(row, improved)
        self.writer.close()

    def train_epoch(self, sess, phase, epoch, epochs):
        start = time.time()
        sess.run(self.init_ops["train"])
        n_batches = int(np.ceil(len(self.data["train"].paths) / self.cfg.batch_size))
        losses, preds, labels = [], [], []
        for _ in tqdm(range(n_batches), desc=f"{phase} epoch {epoch}/{epochs}", leave=False, disable=None):
            _, loss, pred, label = sess.run([self.train_op, self.tensors["loss"], self.tensors["train_pred"],
                                             self.tensors["labels"]])
            losses.append(loss), preds.append(pred), labels.append(label)
        val_loss, val_acc = self.evaluate(sess, "val")
        test_loss, test_acc = self.evaluate(sess, "test")
        return {"phase": phase, "epoch": epoch, "train_loss": float(np.mean(losses)),
                "train_acc": metrics.per_class_accuracy(np.concatenate(labels), np.concatenate(preds)),
                "val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss, "test_acc": test_acc,
                "seconds": round(time.time() - start, 1)}

    def report(self, row, improved):
        self.state["history"].append(row)
        step = len(self.state["history"])
        plots.write_scalars(self.writer, row, ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc",
                                               "test_acc"), step)
        print(f"[{row['phase']} {row['epoch']:3d}] loss train {row['train_loss']:.4f} val {row['val_loss']:.4f} | "
              f"per-class acc train {row['train_acc']:.3f} val {row['val_acc']:.3f} test {row['test_acc']:.3f} | "
              f"{row['seconds']:.0f}s{'  *best val loss' if improved else ''}", flush=True)
        history = self.state["history"]
        plots.plot_curves(os.path.join(self.folder, "loss.png"), history, ["train_loss", "val_loss"], "loss",
                          "cross-entropy (train includes weight decay)")
        plots.plot_curves(os.path.join(self.folder, "accuracy.png"), history, ["train_acc", "val_acc", "test_acc"],
                          "per-class top-1", "accuracy")


def load_lists(cfg, source):
    data = {k: splits.load_list(getattr(cfg, f"{k}_split_json")) for k in ("train", "val", "test")}
    n_classes = int(max(lst.labels.max() for lst in data.values())) + 1
    if n_classes != cfg.num_classes:
        raise UserError(f"{source}: 'num_classes' is {cfg.num_classes} but the split lists have {n_classes} "
                        "seen classes")
    return data


def finalize(save_path, chosen, summary):
    """Copy the chosen run's best checkpoint to <save_path>/best and write test_perf.json."""
    best = chosen["best"]
    target = os.path.join(save_path, "best")
    source = os.path.dirname(best["checkpoint"])
    if os.path.abspath(source) != os.path.abspath(target):  # a grid-search run: copy its best to <save_path>/best
        with io.atomic_dir(target) as tmp:
            for name in os.listdir(source):
                shutil.copy(os.path.join(source, name), tmp)
            tf1.train.update_checkpoint_state(tmp, "model.ckpt")  # relative: resolved inside <save_path>/best
    perf = {**summary, "best_checkpoint": os.path.join(target, "model.ckpt"),
            **{k: best[k] for k in ("phase", "epoch", "val_loss", "val_acc", "test_acc")}}
    io.write_json(os.path.join(save_path, "test_perf.json"), perf)
    return perf


@main_guard
def main(argv=None):
    config_path = config_path_from_args(__doc__.splitlines()[0], argv, "JSON config (arg_configs/seen_finetune/)")
    cfg = config.load_config(config_path, SCHEMA)
    spec = check_config(cfg, config_path)
    data = load_lists(cfg, config_path)
    searched = [k for k, used in (("lr_fc", cfg.num_epochs_fc > 0), ("lr_full", cfg.finetune_whole_cnn),
                                  ("wt_dec", True)) if used]  # a grid over a phase that does not run is skipped
    settings = grid({k: log10_grid(getattr(cfg, k), k, config_path) for k in searched})
    if len(settings) == 1:
        runs = [(settings[0], Run(cfg, spec, data, settings[0], cfg.save_path).train())]
    else:
        runs = []
        for setting in settings:
            tag = "_".join(f"{k}={v:g}" for k, v in setting.items())
            print(f"hyperparameter search: {tag}")
            runs.append((setting, Run(cfg, spec, data, setting, os.path.join(cfg.save_path, "hsearch", tag)).train()))
        io.write_json(os.path.join(cfg.save_path, "hsearch_summary.json"), [
            {**setting, **{k: state["best"][k] for k in ("phase", "epoch", "val_loss", "val_acc")}}
            for setting, state in runs])
    setting, chosen = min(runs, key=lambda run: run[1]["best"]["val_loss"])
    perf = finalize(cfg.save_path, chosen, {"config": config_path, "model_name": cfg.model_name,
                                            "num_classes": cfg.num_classes, "selected_on": "seen-val loss",
                                            **setting})
    print(f"best checkpoint {perf['best_checkpoint']} ({perf['phase']} epoch {perf['epoch']}): val loss "
          f"{perf['val_loss']:.4f}, per-class acc val {perf['val_acc']:.3f}, test {perf['test_acc']:.3f}")


if __name__ == "__main__":
    main()
