"""tf.data input pipelines over prepared image lists: parallel read + decode + preprocessing, batching, prefetch."""
from utils import preprocessing
from utils.tf_compat import tf

AUTOTUNE = tf.data.AUTOTUNE


def image_dataset(paths, labels, preprocessing_name, image_size, batch_size, is_training, seed=None,
                  num_parallel_calls=AUTOTUNE):
    """Batches of (float images [B, S, S, 3], int64 labels [B], paths [B]); training order is reshuffled per epoch."""
    preprocess = preprocessing.get_preprocessing(preprocessing_name, is_training)

    def load(path, label):
        image = preprocessing.decode_image(tf.io.read_file(path))
        return preprocess(image, image_size, image_size), label, path

    dataset = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
    if is_training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=num_parallel_calls, deterministic=not is_training)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)
