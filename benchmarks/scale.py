"""How each stage's seconds and memory grow with the data: the whole pipeline of a generated dataset (one seed) at
fractions of its images per class, every step in a process of its own (so that its peak resident memory is its own).

Per step: wall seconds, seconds less the start-up of a process that imports the stage and TensorFlow and exits
(measured once), peak resident memory (ru_maxrss of the step's process), and the exponent b of a least-squares fit
of the net seconds against the dataset's images, seconds ~ images^b. Finetuning runs a fixed number of epochs with
early stopping off (`--finetune-epochs`: its cost per epoch is what scales); every other setting is the shipped
config's. Everything is written under --out (default runs/scale/<dataset>/). Usage:
    python benchmarks/scale.py synth_cub_scale [--fractions 0.25 0.5 1] [--finetune-epochs 3]
"""
import argparse
import os
import subprocess
import sys
import time
import types

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import run_pipeline  # noqa: E402
from utils import fileio, pipeline, splits  # noqa: E402

# What a step's process imports before its work: TensorFlow and the stages' modules, or (generate, prepare, which do
# not use TensorFlow) NumPy, SciPy and PIL.
STARTUP = {"tensorflow": "import utils.tf_compat, utils.experiment, utils.nets_factory",
           "numpy": "import numpy, scipy.io, PIL.Image, utils.datasets"}
NO_TENSORFLOW = ("generate", "prepare")


def startup_seconds(imports, repeats=3):
    """The fewest seconds of a process that only does `imports`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", imports], cwd=pipeline.ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def scaled_table(dataset, fraction):
    """The pipeline table with `dataset`'s generation at `fraction` of its images per class."""
    table = pipeline.load_table()
    generate = table["datasets"][dataset]["generate"]
    args = list(generate["args"])
    full = int(args[args.index("--images-per-class") + 1])
    args[args.index("--images-per-class") + 1] = str(max(5, round(full * fraction)))
    generate["args"] = args
    return table


def plan(dataset, fraction, out, epochs):
    """The runner's steps for one seed under `out`, finetuning capped at `epochs` epochs without early stopping."""
    args = types.SimpleNamespace(dataset=dataset, net=None, modality=None, force=[], until=None, seed=None, seeds=1,
                                 out=out)
    steps = run_pipeline.Plan(args, scaled_table(dataset, fraction)).steps
    for step in steps:
        if step.stage.name == "finetune":
            raw = {**step.raw, "num_epochs_full": epochs, "estop_full": epochs + 1}
            fileio.write_json(step.config_path, raw)
            step.raw = raw
    return steps


def probes_within_the_list(step):
    """An alpha2w step's `n_probe_images` (a count fixed by the config) capped at its seen-train list's length,
    which the smaller fractions can fall below; the cap is printed."""
    available = len(splits.load_list(os.path.join(step.raw["prepared_dir"], "seen_train.txt")).paths)
    if step.raw["n_probe_images"] > available:
        print(f"  n_probe_images {step.raw['n_probe_images']} -> {available} (the seen-train list's length)")
        step.raw = {**step.raw, "n_probe_images": available}
        fileio.write_json(step.config_path, step.raw)


def peak_resident_mb(pid):
    """VmHWM of a running process (its own peak: the counter starts again at exec), None once it has ended."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def run_step(step, log_path):
    """(wall seconds, peak resident MB) of the step in a process of its own; its output goes to `log_path`. The
    peak is read from /proc every 0.1 s (ru_maxrss would count the parent's pages the child starts from)."""
    argv = [sys.executable, *step.stage.command, *step.arguments()]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    peak = 0.0
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=step.stage.base, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            peak = max(peak, peak_resident_mb(process.pid) or 0.0)
            time.sleep(0.1)
        seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"{step.label} failed; its output: {log_path}")
    return seconds, peak


def images_of(out, dataset):
    generated = pipeline.load_table()["datasets"][dataset]["generate"]["out"]
    summary = fileio.read_json(os.path.join(out, generated, "generation.json"))
    return summary["trainval"] + summary["test_seen"] + summary["test_unseen"]


def exponent(images, seconds):
    """b of seconds ~ images^b, least squares on the logarithms; None when a time is not positive."""
    if min(seconds) <= 0:
        return None
    return float(np.polyfit(np.log(images), np.log(seconds), 1)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("synth_cub_scale", "synth_awa2_scale", "synth", "synth_small"))
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--out", help="default: runs/scale/<dataset>")
    args = parser.parse_args()
    out_root = os.path.abspath(args.out or os.path.join(pipeline.ROOT, "runs", "scale", args.dataset))
    startup = {kind: startup_seconds(imports) for kind, imports in STARTUP.items()}
    print(f"start-up of a process (subtracted: 'net' seconds): {startup['tensorflow']:.1f} s importing TensorFlow and "
          f"the stages, {startup['numpy']:.1f} s for generate and prepare")
    rows, sizes, kinds = {}, [], {}
    for fraction in args.fractions:
        out = os.path.join(out_root, f"x{fraction:g}")
        steps = plan(args.dataset, fraction, out, args.finetune_epochs)
        for number, step in enumerate(steps, 1):
            if step.stage.name == "alpha2w":
                probes_within_the_list(step)
            seconds, memory = run_step(step, os.path.join(out, "logs", f"{number:02d}-{step.name}.log"))
            row = step.stage.name if step.stage.name == "generate" else step.label.split(":")[0]
            rows.setdefault(row, {})[fraction] = (seconds, memory)
            kinds[row] = "numpy" if step.stage.name in NO_TENSORFLOW else "tensorflow"
            print(f"x{fraction:g} [{number}/{len(steps)}] {step.label}: {seconds:.1f} s, {memory:.0f} MB", flush=True)
        sizes.append(images_of(out, args.dataset))
    print(f"\n{args.dataset}, one seed, finetuning {args.finetune_epochs} epochs; images: "
          + ", ".join(f"x{f:g} {n}" for f, n in zip(args.fractions, sizes)))
    print("| step | " + " | ".join(f"x{f:g} s (net) | MB" for f in args.fractions) + " | exponent |")
    print("|---|" + "---|---|" * len(args.fractions) + "---|")
    summary = {"dataset": args.dataset, "images": sizes, "startup_seconds": startup, "steps": {}}
    for name, by_fraction in rows.items():
        measured = [by_fraction[f] for f in args.fractions]
        net = [max(seconds - startup[kinds[name]], 0.0) for seconds, _ in measured]
        b = exponent(sizes, net)
        summary["steps"][name] = {"seconds": [s for s, _ in measured], "net_seconds": net,
                                  "peak_mb": [m for _, m in measured], "exponent": b}
        cells = " | ".join(f"{s:.1f} ({n:.1f}) | {m:.0f}" for (s, m), n in zip(measured, net))
        print(f"| {name} | {cells} | {'-' if b is None else f'{b:.2f}'} |")
    worst = max(((s["exponent"], name) for name, s in summary["steps"].items() if s["exponent"] is not None))
    peak = max(max(s["peak_mb"]) for s in summary["steps"].values())
    print(f"\nlargest exponent {worst[0]:.2f} ({worst[1]}); largest peak memory {peak / 1024:.2f} GB")
    fileio.write_json(os.path.join(out_root, "scale.json"), summary)
    print(f"written to {os.path.join(out_root, 'scale.json')}")


if __name__ == "__main__":
    main()
