"""Restoring slim checkpoints by variable name, with errors that say which file and which variable is wrong."""
import contextlib
import os

from utils.cli import UserError
from utils.tf_compat import slim, tf, tf1


def checkpoint_prefix(path):
    """A checkpoint prefix from `path`: a prefix (V2 `.index` beside it, or a V1 file) or a folder's latest one."""
    if os.path.isdir(path):
        latest = tf1.train.latest_checkpoint(path)
        if latest is None:
            raise UserError(f"{path}: folder holds no checkpoint; point 'ckpt_path' at a .ckpt file")
        return latest
    if os.path.isfile(path + ".index") or os.path.isfile(path):
        return path
    raise UserError(f"{path}: checkpoint not found; fix 'ckpt_path' (download.sh checkpoints fetches the ImageNet "
                    "ones; cnn_finetune.py writes <save_path>/best)")


def variable_name(variable):
    """A variable's checkpoint name; also of a variable mirrored over devices (whose `op` is not the variable's)."""
    return variable.name.split(":")[0]


@contextlib.contextmanager
def readable(prefix):
    """Reading the checkpoint at `prefix`: a truncated or foreign `.index` or `.data` file, which TensorFlow reports
    as "not an sstable", "Read less bytes than requested" or an out-of-range read, is a one-line error naming it."""
    try:
        yield
    except (tf.errors.OpError, ValueError, RuntimeError, IndexError) as err:
        raise UserError(f"{prefix}: not a readable TensorFlow checkpoint ({type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0][:120]}); copy it again or redo the stage that wrote "
                        "it") from None


def reader(prefix):
    """A checkpoint reader whose reads go through `readable` (a truncated file is an error naming it)."""
    with readable(prefix):
        return GuardedReader(prefix, tf1.train.load_checkpoint(prefix))


class GuardedReader:
    def __init__(self, prefix, wrapped):
        self.prefix, self.wrapped = prefix, wrapped

    def get_variable_to_shape_map(self):
        with readable(self.prefix):
            return self.wrapped.get_variable_to_shape_map()

    def get_tensor(self, name):
        with readable(self.prefix):
            return self.wrapped.get_tensor(name)


def restore_fn(path, exclude_scopes=(), fallback=None):
    """fn(sess) restoring every model variable outside `exclude_scopes` from the checkpoint at `path`; with
    `fallback` (another checkpoint, the original's `ckpt: "old"` restore), the variables `path` lacks come from it.

    Built before the graph is finalised; a variable the checkpoints lack or hold with another shape is an error."""
    model_variables = set(slim.get_model_variables())  # not optimizer slots or counters
    variables = [v for v in slim.get_variables_to_restore(exclude=list(exclude_scopes)) if v in model_variables]
    prefixes = [checkpoint_prefix(p) for p in ([path] + ([fallback] if fallback else []))]
    sources = [(prefix, reader(prefix).get_variable_to_shape_map()) for prefix in prefixes]
    restores, left = [], variables
    for prefix, shapes in sources:
        found = [v for v in left if variable_name(v) in shapes]
        for v in found:
            name = variable_name(v)
            if list(shapes[name]) != v.shape.as_list():
                raise UserError(f"{prefix}: variable '{name}' has shape {shapes[name]} in the checkpoint but "
                                f"{v.shape.as_list()} in the graph; exclude its scope or fix 'num_classes'")
        if found:
            restores.append((prefix, tf1.train.Saver(found)))
        left = [v for v in left if v not in found]
    if left:
        named = " or ".join(prefixes)
        raise UserError(f"{named}: lacks {len(left)} variables of the graph, e.g. '{variable_name(left[0])}'; "
                        "is it a checkpoint of this network ('model_name')?")

    def restore(sess):
        for prefix, saver in restores:
            with readable(prefix):
                saver.restore(sess, prefix)
    return restore


def beta_reinitializer():
    """The original release's quirk (`reinit_batchnorm_beta`): after its restore, every variable whose name contains
    "beta" is initialised again, so every batch-norm beta starts at zero. An op over the model variables (not the
    optimizer's beta powers), built before the graph is finalised; run it after the restore."""
    return tf1.variables_initializer([v for v in slim.get_model_variables() if "beta" in variable_name(v)])


def save_in(saver, sess, folder, name="model.ckpt"):
    """Save to folder/name with a `checkpoint` file that names it relative to the folder, so that the folder can be
    moved or copied and still resumes from its own files. Returns the prefix."""
    prefix = saver.save(sess, os.path.join(folder, name))
    tf1.train.update_checkpoint_state(folder, name)
    return prefix
