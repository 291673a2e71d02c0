import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


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
