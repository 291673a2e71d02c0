"""The suite's shared fixtures and the slow tier's mark (the helpers are in helpers.py)."""
import json
import os

import pytest

from helpers import SHARED_DATA, SLOW_FIXTURES, experiment_config, extracted, finetuned, run_stage, slow_fixture


# The shipped configs name the real datasets through the data root (utils/config.data_root): the real CUB/AwA2 files
# beside the project, where they exist, unless the environment names another.
if os.path.isdir(SHARED_DATA):
    os.environ.setdefault("NIWT_DATA", SHARED_DATA)


def pytest_collection_modifyitems(items):
    """Mark `slow` every test that uses a fixture made with `slow_fixture` (directly or through another fixture)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_data():
    """The real CUB/AwA2 files beside the project; tests that need them skip cleanly without them."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"{SHARED_DATA} is absent (real CUB/AwA2 files); these tests need it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory):
    """A small generated dataset (12 classes: 3 unseen, 3 validation) shared by the tests."""
    from utils import synthetic
    out = str(tmp_path_factory.mktemp("synth") / "small")
    synthetic.generate(out, seed=3, n_classes=12, n_unseen=3, n_val_classes=3, images_per_class=20)
    return out


@slow_fixture(scope="session")
def seen_model(tmp_path_factory):
    """A generated dataset (40 classes: 30 seen, 10 unseen, 10 of the seen in valclasses1; 100 images each) and
    small_cnn finetuned on its seen classes (18 epochs of about 8 s on 2 cores). It needs this many seen classes for
    a domain -> alpha map to generalise to held-out classes."""
    from utils import synthetic
    root = tmp_path_factory.mktemp("seen_model")
    data = str(root / "synth")
    synthetic.generate(data, seed=5, n_classes=40, n_unseen=10, n_val_classes=10, images_per_class=100)
    return finetuned(root, data)


@pytest.fixture(scope="session")
def seen_alphas(seen_model, tmp_path_factory):
    """alpha_extraction.py run on the `seen_model` network: its config (the alphas are in its save_path)."""
    return extracted(seen_model, tmp_path_factory.mktemp("seen_alphas"))


@pytest.fixture(scope="session")
def seen_class_alphas(seen_model, seen_alphas, tmp_path_factory):
    """mod2alpha.py (attributes) run on the `seen_alphas`: the experiment config, ready for alpha2w.py."""
    root = tmp_path_factory.mktemp("class_alphas")
    cfg = experiment_config(seen_model, seen_alphas, root)
    done = run_stage("mod2alpha.py", cfg, root)
    assert done.returncode == 0, done.stderr[-3000:]
    return cfg


@pytest.fixture(scope="session")
def niwt_run(seen_class_alphas, tmp_path_factory):
    """alpha2w.py run on the `seen_class_alphas` experiment: (config, results.json, stdout)."""
    folder = tmp_path_factory.mktemp("alpha2w")
    cfg = {**seen_class_alphas, "ckpt_dir": str(folder / "out")}
    done = run_stage("alpha2w.py", cfg, folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return cfg, json.loads((folder / "out" / "results.json").read_text()), done.stdout
