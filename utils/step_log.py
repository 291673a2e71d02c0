"""A pipeline step's output goes to its log file, not the console: the runner prints one line per step, with a live
progress line on a terminal (the step's latest output line: its epoch, its images), and on failure the end of the
log. Stage scripts run by hand keep their full output."""
import collections
import os
import shutil
import subprocess
import sys

from utils import fileio

FAILURE_TAIL = 20  # lines of a failed step's log shown on the console


def run(argv, cwd, log_path, head):
    """Run `argv` with stdout and stderr into `log_path` (written under a temporary name, then renamed). On a
    terminal, `head` is followed by the step's latest output line while it runs. Returns (exit code, the log's
    last FAILURE_TAIL non-empty lines)."""
    live = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns
    last = collections.deque(maxlen=FAILURE_TAIL)
    with fileio.atomic_path(log_path) as tmp, open(tmp, "w", encoding="utf-8") as log:
        process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace", env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for line in process.stdout:  # universal newlines: a progress bar's \r ends a line too
            log.write(line)
            if line.strip():
                last.append(line.rstrip())
                if live:
                    sys.stdout.write(f"\r\033[K{head}: {line.strip()}"[:width + 4])
                    sys.stdout.flush()
        code = process.wait()
    if live:
        sys.stdout.write("\r\033[K")
    return code, list(last)
