"""What the tests share: the repository's paths, running a script as a user does (in this process, or as
workers of one cluster), configs of the generated dataset's stages, reading the runner's output, and the mark of
the slow tier."""
import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from utils import step_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


# Names of the fixtures that train or convert a network or run a pipeline (registered by `slow_fixture`): every test
# that uses one, directly or through another fixture, is in the slow tier (`-m slow`), whatever the fixture is called.
SLOW_FIXTURES = set()


def slow_fixture(*args, **kwargs):
    """`pytest.fixture(*args, **kwargs)` for a fixture that trains or converts a network or runs a pipeline."""
    def register(function):
        SLOW_FIXTURES.add(kwargs.get("name", function.__name__))
        return pytest.fixture(*args, **kwargs)(function)
    return register


# Scripts that start processes of their own (the runner) run as one; stage scripts run in this process (main()
# with the same arguments and captured output), which saves an interpreter and TensorFlow start-up per call.
OWN_PROCESS = {"run_pipeline.py"}


def run_script(script, *args):
    """Run a script as a user does (in this process unless it is in OWN_PROCESS); returns a CompletedProcess with
    its exit code and text output."""
    if script not in OWN_PROCESS:
        return run_in_process(script, *args)
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True,
                          cwd=ROOT)


def run_workers(script, config_path, n=2, timeout=600):
    """`script` on `config_path` as `n` workers of one cluster on this machine (the same command in n processes,
    each with its own TF_CONFIG on a free localhost port): the workers' CompletedProcesses, chief first."""
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    cluster = {"worker": [f"localhost:{sock.getsockname()[1]}" for sock in sockets]}
    for sock in sockets:
        sock.close()
    logs = [(tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")) for _ in range(n)]  # pipes could fill up
    workers = [subprocess.Popen([sys.executable, os.path.join(ROOT, script), str(config_path)], cwd=ROOT, text=True,
                                stdout=logs[i][0], stderr=logs[i][1],
                                env={**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {
                                    "type": "worker", "index": i}})}) for i in range(n)]
    # one worker failing leaves the others waiting for it in a collective op: then they are stopped at once
    deadline = time.time() + timeout
    while any(worker.poll() is None for worker in workers) and time.time() < deadline and \
            not any(worker.poll() not in (None, 0) for worker in workers):
        time.sleep(0.2)
    done = []
    for worker, (stdout, stderr) in zip(workers, logs):
        if worker.poll() is None:
            worker.kill()
        worker.wait()
        stdout.seek(0), stderr.seek(0)
        done.append(subprocess.CompletedProcess(worker.args, worker.returncode, stdout.read(), stderr.read()))
    return done


def run_in_process(script, *args):
    """A script's main() in this process: no interpreter and TensorFlow start-up per call. Returns a
    CompletedProcess, as a subprocess would."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            step_log.script_module(os.path.join(ROOT, script)).main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess([script, *args], code, stdout.getvalue(), stderr.getvalue())


def last_error_line(completed):
    """The one-line report of a failed stage (TensorFlow's start-up notices may precede it on stderr)."""
    lines = completed.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def synth_config(folder, out_dir, **overrides):
    """A validated preparation config for a generated dataset in `folder`."""
    from utils import datasets
    from utils.config import validate
    raw = {"name": "SYNTH", "dataset_format": "CUB", "data_dir": folder, "image_dir": os.path.join(folder, "images"),
           "split_dir": os.path.join(folder, "xlsa17_proposed_split"), "out_dir": out_dir, "random_seed": 1}
    raw.update(overrides)
    return validate(raw, datasets.PREPARE_SCHEMA, "test-config")


def finetune_config(prepared, save_path, **overrides):
    """A cnn_finetune.py config for small_cnn from scratch on a prepared generated dataset."""
    cfg = {"train_split_json": f"{prepared}/seen_train.txt", "val_split_json": f"{prepared}/seen_val.txt",
           "test_split_json": f"{prepared}/seen_test.txt", "model_class": "small_cnn", "model_name": "small_cnn",
           "image_size": 64, "layer_name": "logits", "num_classes": 9, "preprocess_fn": "small_cnn_preprocessing",
           "batch_size": 32, "num_workers": 2, "scope": "small_cnn_arg_scope", "wt_dec": 5e-4, "dropout": 0.5,
           "ckpt_path": None, "train_from_scratch": True, "lr_fc": 1e-3, "lr_full": 3e-3, "save_path": save_path,
           "finetune_whole_cnn": True, "estop_fc": 2, "estop_full": 5, "num_epochs_fc": 1, "num_epochs_full": 2,
           "random_seed": 1}
    cfg.update(overrides)
    return cfg


def finetuned(root, data, split="proposed", num_classes=30, epochs=18):
    """`data` prepared (seed 0) with `split` and small_cnn finetuned on its seen classes: the trained network that the
    later stages' tests start from."""
    from utils import datasets
    prepared, save_path = str(root / "prepared"), str(root / "finetune")
    datasets.prepare(synth_config(data, prepared, random_seed=0, split=split))
    config = finetune_config(prepared, save_path, num_classes=num_classes, lr_full=2e-3, estop_fc=3, estop_full=8,
                             num_epochs_fc=0, num_epochs_full=epochs, random_seed=123)
    config_path = root / "finetune.json"
    config_path.write_text(json.dumps(config))
    done = run_script("seen_pretraining/cnn_finetune.py", str(config_path))
    assert done.returncode == 0, done.stderr[-3000:]
    return {"data": data, "prepared": prepared, "save_path": save_path, "checkpoint": os.path.join(save_path, "best"),
            "num_classes": num_classes, "finetune_stdout": done.stdout}


def extracted(model, root):
    """alpha_extraction.py run on a `finetuned` network (seen train + val images): its config."""
    prepared = model["prepared"]
    config = {"random_seed": 123, "num_classes": model["num_classes"],
              "class_list_f": os.path.join(model["data"], "classes.txt"),
              "class_idmaps_json": f"{prepared}/classes.json",
              "dataset_json": f"{prepared}/seen_train.txt,{prepared}/seen_val.txt",
              "preprocess_fn": "small_cnn_preprocessing", "model_class": "small_cnn", "model_name": "small_cnn",
              "image_size": 64, "num_workers": 2, "batch_size": 64, "scope": "small_cnn_arg_scope",
              "bypass_name": "None", "orig_ckpt_path": None, "ckpt_path": model["checkpoint"],
              "layer_name": "small_cnn/conv4", "save_path": str(root / "alphas"), "n_gradcam": 5}
    (root / "extract.json").write_text(json.dumps(config))
    done = run_script("seen_pretraining/alpha_extraction.py", str(root / "extract.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    return config


def experiment_config(model, alphas, root, **overrides):
    """An experiment config (mod2alpha + alpha2w keys) over a `finetuned` network and its `extracted` alphas."""
    prepared = model["prepared"]
    cfg = {"dataset": "SYNTH", "prepared_dir": prepared, "random_seed": 7, "modality": "attributes",
           "supervision": "class", "classattrdir": f"{prepared}/class_attributes.npy", "n_attr": 19,
           "n_alphas": 128, "alphadir": alphas["save_path"], "n_train_class": int(model["num_classes"] * 0.8),
           "dom2alpha_model": "linear", "alpha_loss_type": "cd", "learning_rate": 3e-3,
           "dom2alpha_batch_size": 64, "num_epochs": 150, "dom2alpha_ckpt_dir": str(root / "mod2alpha"),
           "ckpt_path": model["checkpoint"], "model_class": "small_cnn", "model_name": "small_cnn",
           "scope": "small_cnn_arg_scope", "image_size": 64, "preprocess_fn": "small_cnn_preprocessing",
           "layer_name": "conv4", "batch_size": 64, "num_workers": 2, "unseen_w_init": "seen_centered",
           "sampling_mode": "seen", "n_probe_images": 600, "examples_per_class": 100, "reg_lambda": 1e-3,
           "reg_loss": "dimn_wise_l2", "optimizer": "adam", "ckpt_dir": str(root / "alpha2w")}
    cfg.update(overrides)
    return cfg


def run_stage(script, cfg, folder):
    """Write `cfg` to a new JSON file in `folder` and run the stage script on it."""
    path = folder / f"config_{len(list(folder.glob('config_*.json')))}.json"
    path.write_text(json.dumps(cfg))
    return run_script(script, str(path))


def stage_lines(stdout):
    """stage name -> 'ran' or 'skipped', from the runner's step lines."""
    status = {}
    for line in stdout.splitlines():
        step = re.match(r"==> \[\d+/\d+\] (\w+) .*: (up to date|done in)", line)
        if step:
            status[step.group(1)] = "skipped" if step.group(2) == "up to date" else "ran"
    return status


def table_row(text, dataset):
    """The cells of `dataset`'s row of a markdown results table."""
    row = next(line for line in text.splitlines() if line.startswith(f"| {dataset} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


BROWSER_PROBE = """<script>window.addEventListener('load', function () {
  var images = Array.from(document.images);
  document.body.setAttribute('data-probe', JSON.stringify({images: images.length,
    loaded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    cards: document.querySelectorAll('.card').length, cards_with_image: document.querySelectorAll('.card img').length,
    widest: Math.max.apply(null, images.map(function (i) { return i.getBoundingClientRect().width; }))}));
});</script>"""


def browser_view(page):
    """How headless Chromium sees the HTML file `page` once loaded: images and how many loaded, cards, the widest
    image's displayed width. Skips the test where Debian's `chromium` is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt install chromium); the page is checked in a browser where it is")
    probe = os.path.join(os.path.dirname(page), ".browser_probe.html")
    with open(page, encoding="utf-8") as f, open(probe, "w", encoding="utf-8") as out:
        out.write(f.read().replace("</body>", BROWSER_PROBE + "</body>"))
    try:
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                               "--window-size=1280,900", "--dump-dom", "file://" + probe], capture_output=True,
                              text=True, timeout=120)
    finally:
        os.remove(probe)
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found, done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))

