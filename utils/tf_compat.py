"""The one place that imports TensorFlow and tf-slim for the project, in TF1 graph mode.

tf-slim 1.1.0's batch_norm asks TF's lazy loader for `tf_keras.legacy_tf_layers.normalization`, which tf_keras 2.21
ships as `tf_keras.src.legacy_tf_layers.normalization`; aliasing the module names restores `slim.batch_norm` (ResNets).
"""
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras.src.legacy_tf_layers as _legacy_tf_layers  # noqa: E402
import tf_keras.src.legacy_tf_layers.normalization as _legacy_normalization  # noqa: E402

sys.modules.setdefault("tf_keras.legacy_tf_layers", _legacy_tf_layers)
sys.modules.setdefault("tf_keras.legacy_tf_layers.normalization", _legacy_normalization)

import tf_slim as slim  # noqa: E402

tf.compat.v1.disable_eager_execution()
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

tf1 = tf.compat.v1
# Harmless notices of TF1-style code on TF 2.21 that would otherwise print on every run.
warnings.filterwarnings("ignore", message="`layer.apply` is deprecated")
warnings.filterwarnings("ignore", message="Seed .* from outer graph might be getting used")

__all__ = ["tf", "tf1", "slim"]
