"""Where a stage runs: the `distribute` key of the finetune and alpha-extraction configs.

"one_device" (default): one device, as before. "mirrored": tf.compat.v1.distribute.MirroredStrategy over every local
GPU (every logical CPU device where there is no GPU). "multi_worker_mirrored":
tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy over the machines that TF_CONFIG names (every local
GPU of each, else its CPU), all-reducing with collective ops; the same command runs on every machine, each with its
own TF_CONFIG, and each process serves its part of the cluster (a tf.distribute.Server) that its sessions run on.

In graph mode, as the stages are built: the dataset is batched by the global batch (`batch_size`),
strategy.make_dataset_iterator splits every batch across the replicas in order (over several machines each worker
reads and decodes only its replicas' shares: `iterator`), each replica runs the step on its share, and the
per-image results are gathered in replica order, which is the images' order: on one machine from its replicas, over
several by an all-gather inside the step, so every worker holds the whole batch's results and takes the same
decisions (early stopping, the kept epoch). Only the chief (worker 0) writes the stage's outputs; the others write
theirs to a sibling folder that they delete when done (`worker_outputs`). Variables are mirrored under their own
names, so checkpoints are the same as on one device.

`--cpu-devices N` (a command-line flag of those stages) splits this machine's CPU into N logical devices before
TensorFlow starts its runtime: "mirrored" then runs over them, which is how the tests check the replicated paths
without a GPU; the several-machine path is tested with two worker processes on this machine.
"""
import contextlib
import json
import os
import shutil
import warnings

from utils.cli import UserError, config_parser, parse_config_args
from utils.tf_compat import tf, tf1

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored")
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


def make_strategy(name, source="distribute"):
    """The tf.distribute strategy of `name` (STRATEGIES), or None for one device. Several machines: this process's
    server is started here, and sessions run on it (`session`)."""
    if name == "one_device":
        return None
    if name == "multi_worker_mirrored":
        return _multi_worker(source)
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf1.distribute.MirroredStrategy(devices)


def _multi_worker(source):
    """MultiWorkerMirroredStrategy of TF_CONFIG's cluster and this process's server in it."""
    try:
        spec = json.loads(os.environ.get("TF_CONFIG") or "null")
        workers, task, index = spec["cluster"]["worker"], spec["task"], int(spec["task"]["index"])
        assert task["type"] == "worker" and 0 <= index < len(workers)
    except (ValueError, TypeError, KeyError, AssertionError):
        raise UserError(f"{source}: 'multi_worker_mirrored' needs TF_CONFIG, e.g. "
                        """'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", """
                        """"index": 0}}' on the first machine (index 1 on the second)""") from None
    strategy = tf1.distribute.experimental.MultiWorkerMirroredStrategy()
    config = strategy.update_config_proto(tf1.ConfigProto())
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    try:
        server = tf.distribute.Server(resolver.cluster_spec(), job_name="worker", task_index=index, config=config,
                                      start=True)
    except (tf.errors.UnknownError, tf.errors.InvalidArgumentError) as error:
        raise UserError(f"TF_CONFIG: worker {index} cannot serve {workers[index]} "
                        f"({error.message.splitlines()[0]}); give a free port") from None
    strategy.server, strategy.session_config, strategy.task_index = server, config, index
    return strategy


def multi_worker(strategy):
    return hasattr(strategy, "server")


def is_chief(strategy):
    return not multi_worker(strategy) or strategy.task_index == 0


def session(strategy, graph):
    """A session on `graph`: on this process's server when the strategy spans several machines."""
    if multi_worker(strategy):
        return tf1.Session(strategy.server.target, graph=graph, config=strategy.session_config)
    return tf1.Session(graph=graph)


@contextlib.contextmanager
def worker_outputs(strategy, path, resume=False):
    """The folder a stage writes to: `path` on the chief; on another worker a sibling of it (`<path>.worker<k>`),
    deleted when the stage is done, so that every worker runs the same code and one set of outputs remains.
    `resume`: the sibling starts as a copy of the chief's folder, so that a resumed run resumes alike on every worker
    (several machines: `path` on a filesystem they share); the chief writes nothing new before every worker has
    joined its first step."""
    if is_chief(strategy):
        yield path
        return
    own = f"{os.path.normpath(path)}.worker{strategy.task_index}"
    shutil.rmtree(own, ignore_errors=True)
    if resume and os.path.isdir(path):
        shutil.copytree(path, own)
    yield own
    shutil.rmtree(own, ignore_errors=True)
    print(f"worker {strategy.task_index}: its copy of the outputs ({own}) deleted; the chief (worker 0) writes {path}")


def iterator(strategy, make_dataset):
    """A distributed iterator over `make_dataset(replicas)`'s global batches (utils/input_pipeline.image_dataset):
    on one machine the strategy splits each batch across its replicas; over several each worker builds the dataset
    of its own replicas' shares (replicas = (their ids, the count)), so that it reads and decodes only those
    images, one element per local replica."""
    if not multi_worker(strategy):
        return strategy.make_dataset_iterator(make_dataset(None))

    def worker_dataset(context):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local
        return make_dataset((range(first, first + local), context.num_replicas_in_sync))

    return strategy.make_input_fn_iterator(worker_dataset)


def replicas(strategy):
    return 1 if strategy is None else strategy.num_replicas_in_sync


def whole_batch(outputs, batch_size):
    """Inside a replica's step, over several machines: a dict of step outputs whose per-image tensors cover this
    replica's share of a global batch of at most `batch_size` images -> the same with those over the whole batch,
    in replica order; operations and scalars unchanged. An all-gather of shares padded to the largest share of a
    full batch (a collective op keeps the shape of its first run, and the last batch may split unevenly), then the
    padding dropped. Elsewhere the shares are concatenated outside the step (`gathered`)."""
    images = {key: value for key, value in outputs.items() if isinstance(value, tf.Tensor) and value.shape.ndims}
    strategy = tf.distribute.get_strategy()
    if not images or not multi_worker(strategy):
        return outputs
    context, rows = tf.distribute.get_replica_context(), -(-batch_size // strategy.num_replicas_in_sync)
    counts = context.all_gather(tf.shape(next(iter(images.values())))[:1], axis=0)
    kept = tf.reshape(tf.sequence_mask(counts, rows), [-1])
    out = dict(outputs)
    for key, value in images.items():
        padding = [[0, rows - tf.shape(value)[0]]] + [[0, 0]] * (value.shape.ndims - 1)
        out[key] = tf.boolean_mask(context.all_gather(tf.pad(value, padding), axis=0), kept)
    return out


def gathered(strategy, per_replica):
    """A dict of per-replica per-image tensors -> the same dict over the whole global batch, in replica order."""
    if multi_worker(strategy):  # every replica holds the whole batch already (`whole_batch`)
        return {key: strategy.experimental_local_results(value)[0] for key, value in per_replica.items()}
    return {key: tf.concat(strategy.experimental_local_results(value), 0) for key, value in per_replica.items()}


def combined(strategy, per_replica, gather=True):
    """A dict of per-replica step outputs -> one fetch each: operations grouped (a training step), scalars
    averaged over the replicas (a batch's mean loss), per-image tensors gathered in replica order; gather=False:
    every replica computed the same batch, so its per-image outputs are the first replica's."""
    out, images = {}, {}
    for key, value in per_replica.items():
        local = strategy.experimental_local_results(value)
        if isinstance(local[0], tf.Operation):
            out[key] = strategy.group(value)
        elif local[0].shape.ndims == 0:
            out[key] = strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
        elif gather:
            images[key] = value
        else:
            out[key] = local[0]
    return {**out, **gathered(strategy, images)}


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
