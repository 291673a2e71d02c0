"""Where a result was computed. A run repeats bit for bit on one machine, but the finetuned network depends on the
arithmetic's rounding, and oneDNN picks its kernels by the CPU's instruction set (docs/results.md: the same config on
two machines gave two networks), so the finetuning's and alpha2w's outputs name the machine they came from."""
import os
import platform

from utils.tf_compat import tf

INSTRUCTION_SETS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")  # those that change which kernels oneDNN runs


def cpu_info(path="/proc/cpuinfo"):
    """(model name, instruction-set flags) from Linux's cpuinfo; elsewhere platform's description and no flags."""
    model, flags = None, set()
    try:
        with open(path) as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def record():
    """The machine, TensorFlow and its oneDNN switch, for a run's outputs."""
    model, flags = cpu_info()
    return {"cpu": model, "instruction_sets": [name for name in INSTRUCTION_SETS if name in flags],
            "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0",
            "gpus": [device.name for device in tf.config.list_physical_devices("GPU")]}
