"""The NIWT pipeline as data: which configs each stage runs (arg_configs/pipelines.json, one table for
run_pipeline.py and the stage runners), what each stage reads and writes, stamps that let a finished stage be
skipped, and variants of a dataset's configs (another seed, another output root).

A stage is up to date when its stamp exists, the stamp's fingerprint (the config's content and the content of every
file the stage reads, upstream stages' outputs included) equals today's, and its main output is unchanged since. A
rerun of an upstream stage rewrites that stage's outputs, so everything downstream is redone; a stage run by hand
rewrites its own output, which the stamp then no longer matches.

`python -m utils.pipeline configs <stage> [RUN | config.json ...]` prints the configs a stage runner runs.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import shutil

from utils import config, fileio, layout
from utils.cli import UserError, main_guard

ROOT = layout.ROOT
TABLE = os.path.join(ROOT, "arg_configs", "pipelines.json")
STAMP = "pipeline_stamp.json"
STAGE_DIR = os.path.join(ROOT, "seen_pretraining")
OUTPUT_ROOTS = ("data/prepared", "ckpt", "alphas")  # where the stages write (with the generated datasets' folders)


def _paths(*values):
    """Config values that name files: strings, comma-separated lists split; None dropped."""
    return [part for value in values if isinstance(value, str) for part in value.split(",") if part]


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    command: tuple     # argv after the interpreter; then the config path (generate: its out folder and arguments)
    base: str          # the folder the config's own paths are relative to
    output: object     # raw config -> its main output file
    inputs: object     # raw config -> the files it reads (fingerprinted)
    resumes: bool = False  # the stage continues from what its output folder holds (cnn_finetune's latest/)
    produces: object = None  # raw config -> the folder (or checkpoint prefix) it writes; default: the output's folder


STAGES = {stage.name: stage for stage in (
    Stage("generate", ("-m", "utils.synthetic"), ROOT,
          output=lambda c: os.path.join(c["out"], "generation.json"), inputs=lambda c: []),
    Stage("prepare", ("-m", "utils.prepare_data"), ROOT,
          output=lambda c: os.path.join(c["out_dir"], "split_info.json"),
          inputs=lambda c: [os.path.join(c["data_dir"], n) for n in ("classes.txt", "images.txt", "generation.json")]
          + [os.path.join(c["split_dir"], "att_splits.mat")]),
    Stage("convert", (os.path.join(ROOT, "seen_pretraining/convert_efficientnet_lite0.py"),), ROOT,
          output=lambda c: c["out"] + ".index", inputs=lambda c: [], produces=lambda c: c["out"]),
    Stage("finetune", (os.path.join(ROOT, "seen_pretraining/cnn_finetune.py"),), STAGE_DIR,
          output=lambda c: os.path.join(c["save_path"], "test_perf.json"),
          inputs=lambda c: _paths(c["train_split_json"], c["val_split_json"], c["test_split_json"], c["ckpt_path"]),
          resumes=True),
    Stage("alpha_extract", (os.path.join(ROOT, "seen_pretraining/alpha_extraction.py"),), STAGE_DIR,
          output=lambda c: os.path.join(c["save_path"], "alphas.json"),
          inputs=lambda c: _paths(c["dataset_json"], c["class_idmaps_json"], c["ckpt_path"])),
    Stage("mod2alpha", (os.path.join(ROOT, "mod2alpha.py"),), ROOT,
          output=lambda c: os.path.join(c["dom2alpha_ckpt_dir"], "mod2alpha.json"),
          inputs=lambda c: _paths(os.path.join(c["alphadir"], "alphas.json"),
                                  os.path.join(c["prepared_dir"], "classes.json"), c.get("classattrdir"),
                                  c.get("classattrdir_binary"), c.get("attrdir"))),
    Stage("alpha2w", (os.path.join(ROOT, "alpha2w.py"),), ROOT,
          output=lambda c: os.path.join(c["ckpt_dir"], "results.json"),
          inputs=lambda c: _paths(c["ckpt_path"], os.path.join(c["alphadir"], "alphas.json"),
                                  os.path.join(c["dom2alpha_ckpt_dir"], "mod2alpha.json"),
                                  os.path.join(c["dom2alpha_ckpt_dir"], "class_alphas.npy"),
                                  os.path.join(c["prepared_dir"], "seen_test.txt"),
                                  os.path.join(c["prepared_dir"], "unseen_test.txt"),
                                  *config.listed(c.get("calibration_gamma")),
                                  *config.listed(c.get("hyperparameters_from")),
                                  c.get("sampling_images"))),
    Stage("baselines", (os.path.join(ROOT, "baselines.py"),), ROOT,
          output=lambda c: os.path.join(c["ckpt_dir"], "baselines", "results.json"),
          inputs=lambda c: _paths(*(os.path.join(c["ckpt_dir"], n) for n in ("features.npz", "unseen_head.npz")),
                                  os.path.join(c["dom2alpha_ckpt_dir"], "mod2alpha.json"), c.get("classattrdir"),
                                  c.get("classattrdir_binary"), c.get("attrdir"),
                                  *(os.path.join(os.path.dirname(path), "baselines", "results.json")
                                    for path in (*config.listed(c.get("calibration_gamma")),
                                                 *config.listed(c.get("hyperparameters_from")))
                                    if isinstance(path, str)))),
    Stage("explain", (os.path.join(ROOT, "explain.py"),), ROOT,
          output=lambda c: os.path.join(c["ckpt_dir"], "explanations", "explanations.json"),
          inputs=lambda c: [os.path.join(c["ckpt_dir"], "results.json"), os.path.join(c["ckpt_dir"], "unseen_head.npz"),
                            os.path.join(c["alphadir"], "alphas.json"),
                            os.path.join(c["dom2alpha_ckpt_dir"], "mod2alpha.json")]),
)}
STAGE_ORDER = tuple(STAGES)
CONFIG_STAGES = tuple(s for s in STAGE_ORDER if s not in ("generate", "convert"))  # those run on config files
SEEDED_STAGES = ("mod2alpha", "alpha2w", "baselines", "explain")  # on the experiment configs: one run per seed


def resolved_config(stage, config_path):
    """The config a stage runs with: read, validated and with its derived keys (network facts, layout paths)
    filled in by the stage's own loader, so the pipeline sees the paths the stage will read and write."""
    from utils import experiment, seen_configs  # they import TensorFlow: only when configs are resolved
    if stage == "prepare":
        return config.read_json_config(config_path)
    load = {"finetune": seen_configs.load_finetune, "alpha_extract": seen_configs.load_alpha_extract}.get(
        stage, experiment.load)
    return config.resolved_dict(load(config_path))


def output_roots(table):
    """The folders `--out` moves: the stages' outputs and the generated datasets, never the real datasets (the data
    root, utils/config.data_root)."""
    generated = sorted({entry["generate"]["out"] for entry in table["datasets"].values() if "generate" in entry})
    return OUTPUT_ROOTS + tuple(generated)


def load_table(path=TABLE):
    try:
        table = fileio.read_json(path)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot be read as the pipeline table ({err})") from None
    if not (isinstance(table, dict) and isinstance(table.get("datasets"), dict) and isinstance(table.get("runs"),
                                                                                               dict)):
        raise UserError(f"{path}: not a pipeline table (it needs a \"datasets\" and a \"runs\" object); restore it "
                        "with `git checkout arg_configs/pipelines.json`")
    return table


def conversions(table, run, nets=None):
    """The pretrained-weight conversions (`convert` entries: {"out": checkpoint prefix}) of `run`'s nets."""
    return [(net, configs["convert"]) for net, configs in table["runs"][run]["nets"].items()
            if "convert" in configs and (not nets or net in nets)]


def stage_configs(table, stage, run, nets=None, modalities=None):
    """The configs (absolute paths) that `stage` runs for `run`, in table order, filtered by net and modality."""
    if run not in table["runs"]:
        raise UserError(f"{TABLE}: no run '{run}'; choose one of {', '.join(table['runs'])} or give config paths")
    entry = table["runs"][run]
    if stage == "prepare":
        return [os.path.join(ROOT, entry["prepare"])]
    out = []
    for net, configs in entry["nets"].items():
        if nets and net not in nets:
            continue
        if stage in ("finetune", "alpha_extract"):
            out.append(os.path.join(ROOT, configs[stage]))
        else:  # mod2alpha, alpha2w, baselines, explain: the experiment configs
            out += [os.path.join(ROOT, path) for modality, path in configs["experiments"].items()
                    if not modalities or modality in modalities]
    return out


def file_digest(path):
    """sha256 of a file's content; a checkpoint folder or prefix by its index and `checkpoint` files (their
    content changes with every tensor); 'missing' when absent (the stage itself reports it)."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n == "checkpoint" or n.endswith(".index"))
        return hashlib.sha256("".join(f"{n}:{file_digest(os.path.join(path, n))}" for n in names).encode()).hexdigest()
    if not os.path.isfile(path):
        return file_digest(path + ".index") if os.path.isfile(path + ".index") else "missing"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Step:
    """One stage on one config: its command, its outputs, and whether its stamp says it is up to date."""

    def __init__(self, stage, raw, config_path, label, name=None):
        """`label`: the step's console line; `name`: a short one for its log file (default: the stage's)."""
        self.stage, self.raw, self.config_path, self.label = STAGES[stage], raw, config_path, label
        self.name = name or stage
        base = self.stage.base
        self.output = os.path.normpath(os.path.join(base, self.stage.output(raw)))
        self.stamp_path = os.path.join(os.path.dirname(self.output), STAMP)
        self.input_paths = [os.path.normpath(os.path.join(base, p)) for p in self.stage.inputs(raw)]
        self.produced = os.path.normpath(os.path.join(base, self.stage.produces(raw))) if self.stage.produces \
            else os.path.dirname(self.output)

    def reads_from(self, produced):
        """Whether an input of this stage lies in one of the `produced` folders (or is one of those prefixes)."""
        return any(p == folder or p.startswith(folder + os.sep) for p in self.input_paths for folder in produced)

    def arguments(self):
        """The command line after the stage's command: its config, or (generate, convert, which have no config
        file) the table's arguments."""
        if self.stage.name in ("generate", "convert"):
            return ["--out", self.raw["out"], *self.raw.get("args", [])]
        return [self.config_path]

    def fingerprint(self):
        inputs = {path: file_digest(path) for path in self.input_paths}
        text = json.dumps({"stage": self.stage.name, "config": self.raw, "inputs": inputs}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def up_to_date(self, fingerprint):
        if not (os.path.isfile(self.stamp_path) and os.path.isfile(self.output)):
            return False
        try:
            stamp = fileio.read_json(self.stamp_path)
        except UserError:  # a stamp cut short by a kill: the stage is redone
            return False
        return stamp.get("fingerprint") == fingerprint and stamp.get("output_sha256") == file_digest(self.output)

    def discard_finished(self):
        """Before redoing a stage that resumes: a stamped output folder holds a finished run of other inputs, which
        must not be continued; an unstamped one is an interrupted run, which is."""
        if self.stage.resumes and os.path.isfile(self.stamp_path):
            shutil.rmtree(os.path.dirname(self.output))

    def write_stamp(self, fingerprint, seconds):
        fileio.write_json(self.stamp_path, {
            "stage": self.stage.name, "config": self.config_path, "fingerprint": fingerprint, "output": self.output,
            "output_sha256": file_digest(self.output), "seconds": round(seconds, 1)})


def rerooted(raw, base, out_root, folders):
    """`raw` with every path under ROOT/<folder> (for `folders`) moved under `out_root`, as absolute paths."""
    def move(value):
        if not isinstance(value, str) or not value:
            return value
        parts = []
        for part in value.split(","):
            absolute = os.path.normpath(os.path.join(base, part))
            for folder in folders:
                top = os.path.join(ROOT, folder)
                if absolute == top or absolute.startswith(top + os.sep):
                    part = os.path.join(out_root, os.path.relpath(absolute, ROOT))
            parts.append(part)
        return ",".join(parts)
    return {key: [move(v) for v in value] if isinstance(value, list) else move(value) for key, value in raw.items()}


def seeded_config(config_path, seed, folder, overrides=None):
    """A copy of an experiment config with `random_seed` = seed (and `overrides`), at folder/seed<N>/<its path in
    the repository> (written only when its content changed); its paths stay relative to the repository root, and
    the output folders it derives carry the seed (utils/layout.py)."""
    raw = {**fileio.read_json(config_path), **(overrides or {})}
    raw["random_seed"] = seed
    path = os.path.join(folder, f"seed{seed}", os.path.relpath(config_path, ROOT))
    if not os.path.isfile(path) or fileio.read_json(path) != raw:
        fileio.write_json(path, raw)
    return path


def variant(stage, config_path, out_root, folders, seed, config_dir, overrides=None):
    """A copy of a shipped config, resolved, with its outputs (and inputs produced by the pipeline) under `out_root`
    and, for every stage after preparation (the dataset and its splits stay fixed), `random_seed` = seed; written to
    `config_dir` under the config's path in the repository (an experiment config under seed<N>/), only when its
    content changed. The experiment configs, read by mod2alpha, alpha2w, the baselines and explain, so have one
    derived copy per seed."""
    name = os.path.relpath(config_path, ROOT)
    if seed is not None and stage in SEEDED_STAGES:  # seeded before resolving: its derived folders carry the seed
        config_path, name = seeded_config(config_path, seed, os.path.join(config_dir, "seeded"), overrides), \
            os.path.join(f"seed{seed}", name)
    raw = rerooted(resolved_config(stage, config_path), STAGES[stage].base, out_root, folders)
    if seed is not None and stage not in ("prepare", *SEEDED_STAGES):
        raw["random_seed"] = seed
    path = os.path.join(config_dir, name)
    if not os.path.isfile(path) or fileio.read_json(path) != raw:
        fileio.write_json(path, raw)
    return path, raw


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(description="print the configs a stage runner runs")
    parser.add_argument("command", choices=("configs",))
    parser.add_argument("stage", choices=CONFIG_STAGES)
    parser.add_argument("names", nargs="*", help="a run of arg_configs/pipelines.json (default SYNTH) or config paths")
    args = parser.parse_args(argv)
    names = args.names or ["SYNTH"]
    if all(name.endswith(".json") for name in names):
        print("\n".join(names))
    elif len(names) == 1:
        print("\n".join(stage_configs(load_table(), args.stage, names[0])))
    else:
        raise UserError(f"give one run name of {TABLE} or config paths (*.json), not {' '.join(names)}")


if __name__ == "__main__":
    main()
