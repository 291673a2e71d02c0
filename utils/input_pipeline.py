"""tf.data input pipelines over prepared image lists: parallel read + decode + preprocessing, batching, prefetch."""
import contextlib

import numpy as np

from utils import preprocessing
from utils.cli import UserError
from utils.tf_compat import tf, tf1

AUTOTUNE = tf.data.AUTOTUNE
PREFETCH_BATCHES = 2


def _prefetched(dataset):
    """`dataset` prefetched, with tf.data's autotuning off. The stages switch one reinitializable iterator between
    pipelines (finetuning: the training images, then seen-val and seen-test, every epoch); with autotuning on, the
    switch waited on the old pipeline's tuning thread with both cores idle, in most epochs: 4 s of a 7 s epoch on
    the generated data, 25 s of a 65 s one at AwA2's size (benchmarks/scale.py)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


def image_dataset(paths, labels, preprocessing_name, image_size, batch_size, is_training, seed=0, epoch=0,
                  num_parallel_calls=AUTOTUNE, replicas=None):
    """Batches of (float images [B, S, S, 3], int64 labels [B], paths [B]).

    Training reads the images in a random order and augments each; both are drawn statelessly from (`seed`, `epoch`)
    and the image's index, so a seed gives the same run however many threads preprocess, a resumed run the epochs
    of an uninterrupted one, and every epoch (an int scalar or tensor, fed when its iterator is initialised) its own
    order and augmentation. Evaluation reads the images in order.

    `replicas` (ids, count): over several machines, the shares of these replicas only (this worker's), one element
    per replica and global batch, each image read and decoded by its worker alone (utils/devices.py)."""
    load = _loader(preprocessing_name, image_size, is_training)
    paths = tf.constant(list(paths), tf.string)
    labels = tf.constant(np.asarray(labels, np.int64))
    count = tf.shape(paths, out_type=tf.int64)[0]
    if is_training:
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
        order = tf.argsort(tf.random.stateless_uniform([count], epoch_seed))
        indices = tf.data.Dataset.from_tensor_slices(tf.cast(order, tf.int64))
    else:
        indices = tf.data.Dataset.range(count)

    def example(i):
        image_seed = tf.random.experimental.stateless_fold_in(epoch_seed, i) if is_training else None
        return load(paths[i], image_seed), labels[i], paths[i]

    if replicas is not None:
        return _prefetched(indices.batch(batch_size).flat_map(lambda batch: replica_shares(batch, *replicas)).map(
            lambda share: tf.map_fn(example, share, fn_output_signature=(tf.float32, tf.int64, tf.string)),
            num_parallel_calls=num_parallel_calls, deterministic=True))
    return _prefetched(indices.map(example, num_parallel_calls=num_parallel_calls, deterministic=True)
                       .batch(batch_size))


def replica_shares(batch, ids, count):
    """The shares of replicas `ids` of one global `batch` split across `count` replicas in order, as tf.distribute
    splits it (sizes as even as possible, the first ones larger): a dataset of shares, one per replica."""
    n = tf.shape(batch)[0]
    sizes = n // count + tf.cast(tf.range(count) < n % count, tf.int32)
    ends = tf.cumsum(sizes)
    return tf.data.Dataset.from_tensor_slices(tf.constant(list(ids), tf.int32)).map(
        lambda i: batch[ends[i] - sizes[i]:ends[i]])


def _loader(preprocessing_name, image_size, is_training):
    preprocess = preprocessing.get_preprocessing(preprocessing_name, is_training)
    return lambda path, seed=None: preprocess(preprocessing.decode_image(tf.io.read_file(path)), image_size, image_size,
                                              seed)


def eval_images(paths=None, pixels=None, preprocessing_name=None, image_size=None, batch_size=None,
                num_parallel_calls=AUTOTUNE):
    """Batches of eval-preprocessed float images, in order, from image `paths` (a string tensor) or from uint8
    `pixels` [N, H, W, 3] (a tensor): the two sources alpha2w feeds its frozen network through one iterator."""
    if paths is not None:
        load = _loader(preprocessing_name, image_size, False)
        dataset = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=num_parallel_calls)
    else:
        preprocess = preprocessing.get_preprocessing(preprocessing_name, False)
        dataset = tf.data.Dataset.from_tensor_slices(pixels).map(
            lambda image: preprocess(image, image_size, image_size), num_parallel_calls=num_parallel_calls)
    return _prefetched(dataset.batch(batch_size))


def first_unreadable(paths):
    """The first of `paths` that TensorFlow cannot read and decode as an image, else None (a slow scan)."""
    graph = tf.Graph()
    with graph.as_default():
        path = tf1.placeholder(tf.string, [])
        decoded = preprocessing.decode_image(tf.io.read_file(path))
    graph.finalize()
    with tf1.Session(graph=graph) as sess:
        for candidate in paths:
            try:
                sess.run(decoded, {path: candidate})
            except tf.errors.OpError:
                return candidate
    return None


@contextlib.contextmanager
def naming_bad_images(paths):
    """Turn tf.data's read/decode failure (a corrupt or missing file, or a folder), which does not say which file it
    was, into an error naming the file."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.FailedPreconditionError) as err:
        bad = first_unreadable(paths)
        if bad is None:
            raise
        reason = err.message.strip().splitlines()[0]
        raise UserError(f"{bad}: cannot be read as an image ({reason}); replace the file or remove it from the "
                        "prepared list") from None
