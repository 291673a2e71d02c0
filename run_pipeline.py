"""NIWT end to end: `python run_pipeline.py [synth|synth_small|cub|awa2|cub_001_050|cub_001_050_small] [...]`.

Runs, for the chosen dataset of arg_configs/pipelines.json: generation (the generated datasets), preparation, then per
run (a validation run first where the dataset has one) the conversion of pretrained weights where a net needs it,
finetuning, alpha extraction, then mod2alpha, alpha2w and the baselines for --seeds seeds (3 by default) on the one
finetuned network, and the explanations of the first seed, with the shipped configs; prints the GZSL table (several
seeds: mean +- std). A final run's seeds read the selection of alpha2w's learning_rate and reg_lambda (and the
baselines') and the calibration pooled over the validation run's seeds. A stage whose
outputs exist and match its config and inputs is skipped (`--force STAGE` redoes it, and so every later stage that
reads its outputs); the first failing stage stops the pipeline with its message.
"""
import argparse
import os
import sys
import time

from utils import experiment, fileio, pipeline, results_table, step_log
from utils.cli import UserError, main_guard


def parse_args(argv, table):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="synth", choices=sorted(table["datasets"]))
    parser.add_argument("--net", action="append", help="run only this network (repeatable; default: all of the run)")
    parser.add_argument("--modality", action="append", help="run only this modality (repeatable; default: all)")
    parser.add_argument("--force", action="append", default=[], choices=pipeline.STAGE_ORDER + ("all",),
                        help="redo this stage even if it is up to date (repeatable); later stages follow")
    parser.add_argument("--until", choices=pipeline.STAGE_ORDER, help="stop after this stage")
    parser.add_argument("--seed", type=int, help="random_seed of every stage after preparation; outputs go to "
                                                 "runs/seed<N>/ "
                                                 "(or --out), configs are derived from the shipped ones")
    parser.add_argument("--seeds", type=int, default=3, help="mod2alpha, alpha2w and the baselines run for this many "
                        "seeds (the config's random_seed and the next ones) on the one finetuned network; the table "
                        "shows mean +- std (default 3)")
    parser.add_argument("--out", help="write everything the pipeline makes (data, ckpt, alphas) under this folder "
                                      "instead of the repository's data/, ckpt/, alphas/")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds is {args.seeds}; give 1 or more")
    return args


class Plan:
    """The steps (one stage on one config) of one dataset, in order, on shipped configs or on derived variants
    (--seed / --out)."""

    def __init__(self, args, table):
        self.args, self.steps = args, []
        entry = table["datasets"][args.dataset]
        if args.out or args.seed is not None:
            self.out_root = os.path.abspath(args.out or os.path.join(pipeline.ROOT, "runs", f"seed{args.seed}"))
            self.folders = pipeline.output_roots(table) if args.out else ("ckpt", "alphas")
        else:
            self.out_root, self.folders = None, ()
        if "generate" in entry:
            raw = self.rooted(entry["generate"])
            self.add("generate", raw, None, f"generate {raw['out']}", "generate")
        # a run without the chosen net or modality is left out (the vgg_16 runs of a dataset may lack its
        # validation run); a choice that leaves nothing is an error
        runs = [run for run in entry["runs"]
                if pipeline.stage_configs(table, "mod2alpha", run, args.net, args.modality)]
        if not runs:
            raise UserError(f"{pipeline.TABLE}: no run of {args.dataset} has an experiment config for net {args.net} "
                            f"and modality {args.modality}")
        for run in runs:
            for stage in pipeline.CONFIG_STAGES:
                if stage == "finetune":  # pretrained weights that ship in another format: converted first
                    for net, raw in pipeline.conversions(table, run, args.net):
                        raw = self.rooted(raw)
                        self.add("convert", raw, None, f"convert {net}: {raw['out']}", f"convert-{net}")
                for path in pipeline.stage_configs(table, stage, run, args.net, args.modality):
                    label = f"{stage} {run}: {os.path.relpath(path, pipeline.ROOT)}"
                    name = f"{stage}-{run}-{os.path.splitext(os.path.basename(path))[0]}"
                    if stage not in pipeline.SEEDED_STAGES:
                        self.add_config(stage, path, label, args.seed, name)
                        continue
                    for seed in self.seeds(stage, path):
                        self.add_config(stage, path, f"{label} (seed {seed})", seed, f"{name}-seed{seed}")

    def seeds(self, stage, path):
        """The seeds an experiment config runs with: its own (or --seed) and the next --seeds - 1; the
        explanations only for the first."""
        first = self.args.seed if self.args.seed is not None else pipeline.resolved_config(stage, path)["random_seed"]
        return [first] if stage == "explain" else [first + k for k in range(self.args.seeds)]

    def pooled_tuning(self, stage, path):
        """A final run's configs whose `hyperparameters_from` or `calibration_gamma` names a validation run pool that
        run's seeds of this invocation (`tuning_seeds`), so that every seed trains and calibrates with one choice."""
        raw = fileio.read_json(path)
        if stage not in pipeline.SEEDED_STAGES or self.args.seeds == 1 or \
                not any(experiment.is_run_name(raw.get(key)) for key in ("hyperparameters_from", "calibration_gamma")):
            return {}
        return {"tuning_seeds": self.seeds("alpha2w", path)}

    def rooted(self, raw):
        """A stage's arguments from the table itself (generate, convert) under the variant's output root."""
        return pipeline.rerooted(raw, pipeline.ROOT, self.out_root, self.folders) if self.out_root else raw

    def add_config(self, stage, path, label, seed, name):
        """A step on a shipped config, or on a derived one: another seed of an experiment config (its output
        folders carry the seed), another output root (--out / --seed)."""
        if not os.path.isfile(path):
            raise UserError(f"{path}: config named in {pipeline.TABLE} not found")
        overrides = self.pooled_tuning(stage, path)
        if self.out_root:
            path, raw = pipeline.variant(stage, path, self.out_root, self.folders, seed,
                                         os.path.join(self.out_root, "configs"), overrides)
        else:
            if overrides or (seed is not None and seed != pipeline.resolved_config(stage, path)["random_seed"]):
                path = pipeline.seeded_config(path, seed, os.path.join(pipeline.ROOT, "ckpt", "configs"), overrides)
            raw = pipeline.resolved_config(stage, path)
        self.add(stage, raw, path, label, name)

    def add(self, stage, raw, path, label, name):
        if self.args.until and pipeline.STAGE_ORDER.index(stage) > pipeline.STAGE_ORDER.index(self.args.until):
            return
        self.steps.append(pipeline.Step(stage, raw, path, label, name))


def execute(plan, forced):
    """Run the plan's stages in order, one console line each (the step's full output goes to its log); a stage is
    redone when forced, out of date, or when it reads what a stage redone in this invocation wrote (even if that came
    out byte-identical). Returns the results files of alpha2w and the baselines."""
    started, total = time.time(), len(plan.steps)
    redone = []  # folders (or checkpoint prefixes) written by the stages redone so far
    logs = os.path.join(plan.out_root or pipeline.ROOT, "logs", plan.args.dataset)
    print(f"{total} steps; each step's full output is in {shown(logs)}/", flush=True)
    for number, step in enumerate(plan.steps, 1):
        head = f"==> [{number}/{total}] {step.label}"
        fingerprint = step.fingerprint()
        must_run = step.stage.name in forced or "all" in forced or step.reads_from(redone)
        if not must_run and step.up_to_date(fingerprint):
            print(f"{head}: up to date (--force {step.stage.name} redoes it)", flush=True)
            continue
        stage_start = time.time()
        step.discard_finished()
        log_path = os.path.join(logs, f"{number:02d}-{step.name}.log")
        code, last = step_log.run(step.stage.command, step.arguments(), step.stage.base, log_path, head)
        if code != 0:
            print(f"{head}: failed, exit code {code}; the end of its log {shown(log_path)}:", file=sys.stderr)
            print("\n".join("    " + line for line in last), file=sys.stderr)
            print(f"pipeline stopped at [{number}/{total}] {step.label}: fix it and rerun (finished stages are "
                  "skipped)", file=sys.stderr)
            sys.exit(code)
        step.write_stamp(fingerprint, time.time() - stage_start)
        redone.append(step.produced)
        summary = [line for line in last if not line[:1].isspace()] or last or ["(no output)"]
        print(f"{head}: done in {time.time() - stage_start:.1f} s ({(time.time() - started) / 60:.1f} min so far), "
              f"log {os.path.basename(log_path)}\n    {summary[-1]}", flush=True)
    return [step.output for step in plan.steps if step.stage.name in ("alpha2w", "baselines")]


def shown(path):
    """`path` relative to the working folder when it lies inside it, else as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


@main_guard
def main(argv=None):
    table = pipeline.load_table()
    args = parse_args(argv, table)
    plan = Plan(args, table)
    start = time.time()
    results = execute(plan, set(args.force))
    if results:
        out_root = plan.out_root or pipeline.ROOT
        table_path = os.path.join(out_root, "ckpt", f"gzsl_table_{args.dataset}.md")
        text = results_table.markdown(results)
        fileio.write_text(table_path, text)
        print(f"\nGZSL results ({args.dataset}; {(time.time() - start) / 60:.1f} min):\n\n{text}\nwritten to "
              f"{table_path}")


if __name__ == "__main__":
    main()
