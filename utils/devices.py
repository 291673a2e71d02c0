"""Where a stage runs: the `distribute` key of the finetune and alpha-extraction configs.

"one_device" (default): one device, as before. "mirrored": tf.compat.v1.distribute.MirroredStrategy over every local
GPU (every logical CPU device where there is no GPU). In graph mode, as the stages are built: the dataset is batched
by the global batch (`batch_size`), strategy.make_dataset_iterator splits every batch across the replicas in order,
each replica runs the step on its share, and the per-image results are gathered in replica order, which is the
images' order. Variables are mirrored under their own names, so checkpoints are the same as on one device.

`--cpu-devices N` (a command-line flag of those stages) splits this machine's CPU into N logical devices before
TensorFlow starts its runtime: "mirrored" then runs over them, which is how the tests check the replicated paths
without a GPU. Several machines (MultiWorkerMirroredStrategy from TF_CONFIG) are not offered yet: in graph mode
they need a server per worker, sharded input and outputs written by the chief only.
"""
import contextlib
import warnings

from utils.cli import UserError, config_parser, parse_config_args
from utils.tf_compat import tf, tf1

STRATEGIES = ("one_device", "mirrored")
# make_dataset_iterator reads a dataset's options in graph mode, which tf.data warns about on every call
warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data options")


def split_cpu(n, source="--cpu-devices"):
    """N logical CPU devices; only before the runtime has started (the stage's first step)."""
    if n < 1:
        raise UserError(f"{source}: {n} CPU devices; give 1 or more")
    try:
        tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                                   [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        raise UserError(f"{source}: TensorFlow's devices are already set up in this process; split the CPU before "
                        "any graph runs (a fresh command)") from None


def stage_args(description, argv, hint):
    """A replicable stage's arguments: its config (utils/cli.py) and `--cpu-devices N`, applied at once (before any
    graph runs, as TensorFlow requires)."""
    parser = config_parser(description, hint)
    parser.add_argument("--cpu-devices", type=int, help="split the CPU into N logical devices (utils/devices.py)")
    args = parse_config_args(parser, argv)
    if args.cpu_devices:
        split_cpu(args.cpu_devices)
    return args


def make_strategy(name):
    """The tf.distribute strategy of `name` (STRATEGIES), or None for one device."""
    if name == "one_device":
        return None
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf1.distribute.MirroredStrategy(devices)


def replicas(strategy):
    return 1 if strategy is None else strategy.num_replicas_in_sync


def gathered(strategy, per_replica):
    """A dict of per-replica per-image tensors -> the same dict over the whole global batch, in replica order."""
    return {key: tf.concat(strategy.experimental_local_results(value), 0) for key, value in per_replica.items()}


def combined(strategy, per_replica, gather=True):
    """A dict of per-replica step outputs -> one fetch each: operations grouped (a training step), scalars
    averaged over the replicas (a batch's mean loss), per-image tensors gathered in replica order; gather=False:
    every replica computed the same batch, so its per-image outputs are the first replica's."""
    out = {}
    for key, value in per_replica.items():
        local = strategy.experimental_local_results(value)
        if isinstance(local[0], tf.Operation):
            out[key] = strategy.group(value)
        elif local[0].shape.ndims == 0:
            out[key] = strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
        else:
            out[key] = tf.concat(local, 0) if gather else local[0]
    return out


@contextlib.contextmanager
def moving_averages_averaged():
    """Inside a strategy's scope: batch-norm moving averages (variables named moving_*) are mirrored and written
    with the mean of the replicas' batch statistics, so every replica holds the one value a checkpoint saves (left
    alone, a non-trainable variable is sync-on-read: each replica would keep, and evaluate with, its own)."""
    def creator(next_creator, **kwargs):
        if "moving_" in (kwargs.get("name") or ""):
            kwargs.update(synchronization=tf.VariableSynchronization.ON_WRITE,
                          aggregation=tf.VariableAggregation.MEAN)
        return next_creator(**kwargs)

    with tf1.variable_creator_scope(creator):
        yield
