"""Atomic file outputs: every artefact is written to a temporary name beside its target, then renamed."""
import contextlib
import json
import os
import re
import shutil
import tempfile
import zipfile

import numpy as np

from utils.cli import UserError


def _temporary_prefix(folder, name):
    """`.<name>.tmp-<pid>-`: the prefix of this process's temporary outputs for `name`. Leftovers of a process that
    no longer runs (killed before its rename) are removed first, so they never pile up beside the outputs."""
    pattern = re.compile(rf"\.{re.escape(name)}\.tmp-(\d+)-")
    for entry in os.listdir(folder):
        match = pattern.match(entry)
        if match and not _running(int(match.group(1))):
            leftover = os.path.join(folder, entry)
            if os.path.isdir(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
            elif os.path.exists(leftover):
                os.remove(leftover)
    return f".{name}.tmp-{os.getpid()}-"


def _running(pid):
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _umask_mode(mode):
    """`mode` (0o666 for a file, 0o777 for a folder) under the process's umask: what open() and mkdir() would give,
    where mkstemp and mkdtemp give 0600 and 0700 (outputs in a lab's shared folder must stay readable)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def _writable(folder):
    """Creating outputs in `folder`: a folder the user cannot write is a one-line error naming it."""
    try:
        yield
    except PermissionError:
        raise UserError(f"{folder}: cannot write there (permission denied); choose a folder you can write (the "
                        "config's output path, or run_pipeline.py --out)") from None


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; rename it onto `path` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1]
    with _writable(folder):
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(folder, os.path.basename(path)), suffix=suffix,
                                   dir=folder)
    os.close(fd)
    os.chmod(tmp, _umask_mode(0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_lines(path, lines):
    write_text(path, "".join(f"{line}\n" for line in lines))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_npy(path, array):
    with atomic_path(path) as tmp:
        np.save(tmp, np.asarray(array))


def read_npy(path, writer):
    """The array in the .npy file at `path`; an unreadable file is a one-line error naming `writer`, the stage or
    key that makes it."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{path}: not a readable .npy array ({type(err).__name__}); redo {writer}") from None


def read_npz(path, writer):
    """The arrays of the .npz file at `path` as a dict; a truncated or foreign file is a one-line error naming
    `writer`, the stage that makes it."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return dict(arrays)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError) as err:
        raise UserError(f"{path}: not a readable .npz archive ({type(err).__name__}); redo {writer}") from None


def require_finite(array, path, fix):
    """`array` if every value is finite; else a one-line error naming the first bad row of `path` and the fix."""
    bad = ~np.isfinite(np.asarray(array, dtype=np.float64))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UserError(f"{path}: {int(bad.sum())} values are NaN or infinite (first in row {row}); {fix}")
    return array


def read_json(path, writer=None, keys=()):
    """The JSON at `path`: a stage's record (results.json, mod2alpha.json, classes.json, ...) or a table. A missing,
    truncated or foreign file, or a record without one of `keys`, is a one-line error naming `writer`, the stage
    that writes it."""
    fix = f"redo {writer}" if writer else "restore or rewrite it"
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: not found; " + (f"run {writer} first" if writer else fix)) from None
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable JSON file ({type(err).__name__}); {fix}") from None
    missing = [k for k in keys if not isinstance(record, dict) or k not in record]
    if missing:
        raise UserError(f"{path}: has no '{missing[0]}' (written by another version or another stage?); {fix}")
    return record


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside `path`; when the block succeeds it replaces `path` whole."""
    path = os.path.abspath(path)
    with _writable(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=_temporary_prefix(os.path.dirname(path), os.path.basename(path)),
                               dir=os.path.dirname(path))
    os.chmod(tmp, _umask_mode(0o777))
    try:
        yield tmp
        if os.path.isdir(path):
            old = tmp + ".old"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
