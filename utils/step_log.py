"""A pipeline step runs in the runner's own process (one Python and TensorFlow start-up for the whole pipeline) with
its output in its log file, not the console: the runner prints one line per step, with a live progress line on a
terminal (the step's latest output line: its epoch, its images), and on failure the end of the log. Stage scripts
run by hand keep their full output.

A step's output is taken at the file descriptors, so TensorFlow's C++ lines reach the log as Python's do; a step
that raises instead of exiting has its traceback in the log and exit code 1. Every stage builds its graphs in a
tf.Graph of its own, so a step in this process computes what it computes in a fresh one (tests/test_pipeline.py).
"""
import collections
import contextlib
import functools
import importlib
import importlib.util
import os
import shutil
import sys
import threading
import traceback

from utils import fileio

FAILURE_TAIL = 20  # lines of a failed step's log shown on the console


@functools.lru_cache(maxsize=None)
def script_module(path):
    """A stage script (a file) loaded as a module, once per process; its `main` runs the stage."""
    name = "stage_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage_main(command):
    """main(argv) of a stage command: ("-m", module) or (script path,)."""
    return importlib.import_module(command[1]).main if command[0] == "-m" else script_module(command[0]).main


def call_main(command, args, cwd):
    """The stage command's main(args) in `cwd` as its command line would run it (sys.argv set, the working folder
    restored after); returns the exit code."""
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    sys.argv = [command[-1], *args]
    try:
        os.chdir(cwd)
        stage_main(command)(list(args))
        return 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except Exception:  # a stage's bug, or a script that does not import: its traceback goes to the log
        traceback.print_exc()
        return 1
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv


@contextlib.contextmanager
def output_lines(on_line):
    """Descriptors 1 and 2 (what C++ writes) and Python's sys.stdout and sys.stderr (whatever they were) into one
    pipe for the block, line-buffered so that their lines keep their order; a thread passes each line (universal
    newlines: a progress bar's \\r ends a line too) to `on_line`."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    saved_fds, saved_streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)

    def pump():
        with open(read_end, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    sys.stdout = sys.stderr = open(write_end, "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        yield
    finally:
        sys.stdout.close()
        sys.stdout, sys.stderr = saved_streams
        for fd, original in zip((1, 2), saved_fds):
            os.dup2(original, fd)
            os.close(original)
        reader.join()  # every write end is closed now: the reader ends at the pipe's end


def run(command, args, cwd, log_path, head):
    """Run the stage command (see stage_main) on `args` in `cwd`, in this process, its output into `log_path`
    (written under a temporary name, then renamed). On a terminal, `head` is followed by the step's latest output
    line while it runs. Returns (exit code, the log's last FAILURE_TAIL non-empty lines)."""
    terminal = os.fdopen(os.dup(1), "w") if sys.stdout.isatty() else None
    width = shutil.get_terminal_size().columns
    last = collections.deque(maxlen=FAILURE_TAIL)
    with fileio.atomic_path(log_path) as tmp, open(tmp, "w", encoding="utf-8") as log:
        def on_line(line):
            log.write(line)
            if line.strip():
                last.append(line.rstrip())
                if terminal:
                    terminal.write(f"\r\033[K{head}: {line.strip()}"[:width + 4])
                    terminal.flush()

        with output_lines(on_line):
            code = call_main(command, args, cwd)
    if terminal:
        terminal.write("\r\033[K")
        terminal.close()
    return code, list(last)
