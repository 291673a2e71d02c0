"""NIWT end to end on real images: `run_pipeline.py cub_001_050_small` (CUB classes 001-050 of ../shared/data, 40 seen
/ 10 unseen, 312 continuous attributes, a seeded sample of images per class) with the ImageNet EfficientNet-Lite0
converted from its wheel, logits-only finetuning for a few epochs. Skipped without ../shared/data."""
import json

import pytest

from helpers import run_script, stage_lines, table_row
from utils import fileio

pytestmark = pytest.mark.slow


def test_cub_subset_end_to_end_with_the_pretrained_backbone_is_far_above_chance(shared_data, tmp_path):
    done = run_script("run_pipeline.py", "cub_001_050_small", "--out", str(tmp_path), "--until", "alpha2w",
                      "--seeds", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # explain is left out (--until): tests/test_pipeline.py covers it on the generated data
    assert stage_lines(done.stdout) == {name: "ran" for name in ("prepare", "convert", "finetune", "alpha_extract",
                                                                 "mod2alpha", "alpha2w")}
    info = fileio.read_json(tmp_path / "data" / "prepared" / "CUB_001_050_small" / "split_info.json")
    cap = info["config"]["max_images_per_class"]
    assert info["counts"]["seen_classes"] == 40 and info["counts"]["unseen_classes"] == 10
    assert info["counts"]["trainval"] == 40 * cap and info["counts"]["unseen_test"] == 10 * cap
    finetuned = fileio.read_json(tmp_path / "ckpt" / "CUB_001_050_small" /
                                 "CUB_001_050_small_efficientnet_lite0_seen_finetune_proposed" / "test_perf.json")
    assert finetuned["phase"] == "fc" and finetuned["val_acc"] >= 0.4  # 40 classes: chance 0.025
    cells = table_row((tmp_path / "ckpt" / "gzsl_table_cub_001_050_small.md").read_text(), "CUB_001_050_small")
    assert cells[:3] == ["CUB_001_050_small", "efficientnet_lite0", "attributes"]
    t1, u, s, h = (float(c) for c in cells[3:7])
    # chance: T1 10 % (10 unseen classes), U and S 2 % (argmax over all 50 classes)
    assert t1 >= 25 and u >= 12 and s >= 20 and h >= 15, cells
    results = json.loads((tmp_path / "ckpt" / "alpha2w" / "CUB_001_050_small_efficientnet_lite0_attributes" /
                          "results.json").read_text())
    assert results["layer_name"] == "efficientnet_lite0/blocks_15"
