"""The runner's steps run in its process: their output (Python's and what C++ writes to the descriptors) goes to the
step's log, an exit or an exception becomes an exit code, and the runner's working folder and arguments come back."""
import os
import sys

from utils import step_log

STAGE = '''
import os
import sys


def main(argv):
    print("epoch 1 of", argv[0], "in", os.path.basename(os.getcwd()))
    os.write(2, b"a C++ line straight to descriptor 2\\n")
    sys.stderr.write("progress 10%\\rprogress 100%\\n")
    if argv[0] == "fail":
        print("error: the config names no file", file=sys.stderr)
        sys.exit(2)
    if argv[0] == "raise":
        raise ValueError("a bug in the stage")
'''


def run_stage(tmp_path, argument):
    script = tmp_path / "toy_stage.py"
    script.write_text(STAGE)
    (tmp_path / "work").mkdir(exist_ok=True)
    log = tmp_path / f"{argument}.log"
    before = os.getcwd(), list(sys.argv)
    code, last = step_log.run((str(script),), [argument], str(tmp_path / "work"), str(log), "==> [1/1] toy")
    assert (os.getcwd(), sys.argv) == before
    return code, last, log.read_text()


def test_a_steps_output_goes_to_its_log_and_a_clean_finish_is_exit_code_0(tmp_path, capfd):
    code, last, log = run_stage(tmp_path, "ok")
    assert code == 0
    assert "epoch 1 of ok in work\n" in log and "a C++ line straight to descriptor 2\n" in log
    assert last == ["epoch 1 of ok in work", "a C++ line straight to descriptor 2", "progress 10%", "progress 100%"]
    assert capfd.readouterr() == ("", "")  # nothing of the step on the console
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_a_failing_step_keeps_its_exit_code_and_a_raising_one_its_traceback(tmp_path):
    code, last, _ = run_stage(tmp_path, "fail")
    assert code == 2 and last[-1] == "error: the config names no file"
    code, last, log = run_stage(tmp_path, "raise")
    assert code == 1 and last[-1] == "ValueError: a bug in the stage" and "Traceback (most recent call last)" in log
    code, last, _ = run_stage(tmp_path, "ok")  # the runner goes on as before
    assert code == 0
