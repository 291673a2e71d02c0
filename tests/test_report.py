"""The results table: runs of one setting become mean ± std, validation runs are marked, published rows follow."""
import json

import pytest

from helpers import run_script
from utils import results_table
from utils.cli import UserError


def results(folder, dataset, t1, u, s, h, ausuc, split="proposed", gamma=None, modality="attributes", baseline=None):
    """A minimal alpha2w results.json with the fields the report reads."""
    data = {"dataset": dataset, "model_name": "small_cnn", "modality": modality, "split": split,
            "gamma0": {"T1": t1, "U": u, "S": s, "H": h}, "AUSUC": ausuc}
    if baseline is not None:
        data["direct_regression_baseline"] = dict(zip(("T1", "U", "S", "H", "AUSUC"), baseline), **{"lambda": 10.0})
    if gamma is not None:
        data["calibration"] = {"gamma": gamma[0], "chosen_by": "val/results.json", "S": 0.5, "U": 0.5, "H": gamma[1]}
    elif split != "proposed":
        data["calibration"] = {"selected_gamma": 1.0, "U": 0.3, "S": 0.6, "H": 0.4}
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(data))
    return str(folder / "results.json")


def test_runs_of_one_setting_are_averaged_and_references_follow_their_dataset(tmp_path):
    paths = [results(tmp_path / "a", "CUB", 0.50, 0.20, 0.60, 0.30, 0.25, gamma=(2.0, 0.40)),
             results(tmp_path / "b", "CUB", 0.60, 0.40, 0.60, 0.48, 0.35, gamma=(2.0, 0.50)),
             results(tmp_path / "c", "CUB", 0.30, 0.10, 0.70, 0.175, 0.2, split="validation1"),
             results(tmp_path / "d", "SYNTH", 0.70, 0.5, 0.5, 0.5, 0.4, modality="captions",
                     baseline=(0.6, 0.1, 0.9, 0.18, 0.3))]
    lines = results_table.markdown(results_table.find_results([str(tmp_path)])).splitlines()
    assert sorted(results_table.find_results([str(tmp_path)])) == sorted(paths)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("| ")][1:]
    ours = {(r[0], r[2]): r for r in rows if r[-1] == "this code"}
    # two CUB seeds: mean ± population std, in percent
    assert ours[("CUB", "attributes")][3:10] == ["55.0 ± 5.0", "30.0 ± 10.0", "60.0 ± 0.0", "39.0 ± 9.0", "45.0 ± 5.0",
                                                 "30.0 ± 5.0", "2"]
    # a validation run is its own row, with no calibrated H (it selects gamma, it is not calibrated by one)
    assert ours[("CUB (validation1 run)", "attributes")][3:10] == ["30.0", "10.0", "70.0", "17.5", "-", "20.0", "1"]
    assert ours[("SYNTH", "captions")][7] == "-"
    # the run's direct-regression baseline: its own row, right after the run's, never calibrated
    assert ours[("SYNTH", "captions -> weights (ridge baseline)")][3:10] == ["60.0", "10.0", "90.0", "18.0", "-",
                                                                             "30.0", "1"]
    names = [(r[0], r[2]) for r in rows if r[-1] == "this code"]
    assert names.index(("SYNTH", "captions -> weights (ridge baseline)")) == names.index(("SYNTH", "captions")) + 1
    published = {r[2]: r[4:7] for r in rows if r[-1] == results_table.SOURCE_XIAN}
    assert published["ALE"] == ["23.7", "62.8", "34.4"] and published["ESZSL"] == ["12.6", "63.8", "21.0"]
    assert {r[0] for r in rows if r[-1] == results_table.SOURCE_XIAN} == {"CUB"}  # no reference rows for SYNTH


def test_report_command_writes_the_table_and_rejects_foreign_files(tmp_path):
    results(tmp_path / "runs" / "one", "AWA2", 0.5, 0.2, 0.8, 0.32, 0.3)
    out = tmp_path / "table.md"
    done = run_script("report.py", str(tmp_path / "runs"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "| AWA2 | small_cnn | attributes | 50.0 | 20.0 | 80.0 | 32.0 | - | 30.0 | 1 | this code |" in text
    assert "| AWA2 | ResNet-101 features | DEVISE | - | 17.1 | 74.7 | 27.8 |" in text
    assert text in done.stdout
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "results.json").write_text(json.dumps({"dataset": "x"}))
    with pytest.raises(UserError, match="not an alpha2w results.json"):
        results_table.markdown([str(tmp_path / "foreign" / "results.json")])
    done = run_script("report.py", str(tmp_path / "nothing_here"), "--out", str(tmp_path / "t2.md"))
    assert done.returncode == 2 and "no such file or folder" in done.stderr
    assert not (tmp_path / "t2.md").exists()
