"""The one place that imports TensorFlow and tf-slim for the project, in TF1 graph mode.

tf-slim 1.1.0's batch_norm asks TF's lazy loader for `tf_keras.legacy_tf_layers.normalization`, which tf_keras 2.21
ships as `tf_keras.src.legacy_tf_layers.normalization`; aliasing the module names restores `slim.batch_norm` (ResNets).

TensorFlow's C++ start-up lines (absl's "before InitializeLog" notice, oneDNN, the CUDA stub and cuInit on a machine
without a GPU) go straight to file descriptor 2, before TF_CPP_MIN_LOG_LEVEL is read, so no setting hides them. The
import and the device discovery run with descriptor 2 captured; afterwards every captured line that is not one of
those notices is written back to stderr, so real errors still show, and GPUs are found as usual where they exist.
"""
import contextlib
import os
import re
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TF's x86 wheels turn oneDNN's kernels on by default only on CPUs with AVX-512-class features; on this project's
# AVX2 test machine small_cnn's training step took 0.31 s a batch without them and 0.17 s with them
# (benchmarks/cpu_kernels.py). Chosen before the import; an explicit TF_ENABLE_ONEDNN_OPTS=0 still turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|cudart_stub\.cc|"
    r"Could not find cuda drivers|failed call to cuInit|cuda_(?:driver|platform|diagnostics)\.cc.*"
    r"(?:kernel driver does not appear|retrieving CUDA diagnostic|hostname|no NVIDIA GPU)|"
    r"Unable to register cu(?:DNN|FFT|BLAS) factory|computation placer already registered|"
    r"TF-TRT Warning: Could not find TensorRT|This TensorFlow binary is optimized to use available CPU|"
    r"To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags")


@contextlib.contextmanager
def _startup_notices_filtered():
    """Capture descriptor 2 for the block; write back the captured lines that are not start-up notices."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not STARTUP_NOISE.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


with _startup_notices_filtered():
    import tensorflow as tf
    import tf_keras.src.legacy_tf_layers as _legacy_tf_layers
    import tf_keras.src.legacy_tf_layers.normalization as _legacy_normalization

    sys.modules.setdefault("tf_keras.legacy_tf_layers", _legacy_tf_layers)
    sys.modules.setdefault("tf_keras.legacy_tf_layers.normalization", _legacy_normalization)

    import tf_slim as slim

    tf.config.list_physical_devices()  # device discovery: where the CUDA lines are printed

tf.compat.v1.disable_eager_execution()
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

tf1 = tf.compat.v1
# Harmless notices of TF1-style code on TF 2.21 that would otherwise print on every run.
warnings.filterwarnings("ignore", message="`layer.apply` is deprecated")
warnings.filterwarnings("ignore", message="Seed .* from outer graph might be getting used")

__all__ = ["tf", "tf1", "slim"]
