import io

import numpy as np
import pytest
from PIL import Image

from utils import preprocessing
from utils.cli import UserError
from utils.tf_compat import tf, tf1

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)


def run(fn, image, *args):
    with tf.Graph().as_default(), tf1.Session() as sess:
        return sess.run(fn(tf.constant(image), *args))


def legacy_bilinear(image, out_h, out_w):
    """TF1 resize_bilinear with align_corners=False: source = destination * in/out (no half-pixel centres)."""
    in_h, in_w = image.shape[:2]
    ys, xs = np.arange(out_h) * in_h / out_h, np.arange(out_w) * in_w / out_w
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, in_h - 1), np.minimum(x0 + 1, in_w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = image.astype(np.float64)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def test_vgg_eval_resizes_short_side_to_256_with_v1_bilinear_then_centre_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    out = run(preprocessing.get_preprocessing("vgg_preprocessing", is_training=False), image, 224, 224)
    resized = legacy_bilinear(image, 256, 341)  # 400 * 256 / 300 = 341.3 -> rint
    expected = resized[16:240, 58:282] - MEANS
    assert out.shape == (224, 224, 3)
    np.testing.assert_allclose(out, expected, atol=1e-2)  # float32 scale arithmetic in TF
    with tf.Graph().as_default(), tf1.Session() as sess:
        half_pixel = sess.run(tf.image.resize(image[None].astype(np.float32), [256, 341]))[0]
    assert np.abs(half_pixel[16:240, 58:282] - MEANS - out).mean() > 1.0  # the resize choice matters


def test_the_originals_plain_resize_squashes_the_whole_image_and_does_not_augment_in_training():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    expected = legacy_bilinear(image, 224, 224) - MEANS  # aspect ratio not kept, nothing cropped
    for training in (False, True):
        out = run(preprocessing.get_preprocessing("vgg_plain_resize", is_training=training), image, 224, 224)
        np.testing.assert_allclose(out, expected, atol=1e-2)


def test_vgg_train_crops_a_random_window_of_a_random_scale_and_flips():
    image = np.tile(np.arange(320, dtype=np.float32)[None, :, None], (256, 1, 3)).astype(np.uint8)
    fn = preprocessing.get_preprocessing("vgg_preprocessing", is_training=True)
    with tf.Graph().as_default(), tf1.Session() as sess:
        seed = tf1.placeholder(tf.int64, [2])
        tensor = fn(tf.constant(image), 224, 224, seed)
        outs = [sess.run(tensor, {seed: [3, i]}) for i in range(12)]  # fixed seeds: cannot fail by chance
        again = sess.run(tensor, {seed: [3, 5]})
    np.testing.assert_array_equal(again, outs[5])  # a seed is one crop, the same every time
    assert all(o.shape == (224, 224, 3) for o in outs)
    assert len({float(o[0, 0, 0]) for o in outs}) > 3  # different crops and scales
    slopes = {np.sign(o[0, -1, 0] - o[0, 0, 0]) for o in outs}
    assert slopes == {-1.0, 1.0}  # both flipped and unflipped crops of the rising ramp


def test_small_cnn_preprocessing_scales_to_unit_range():
    image = np.full((64, 64, 3), 255, np.uint8)
    image[:, :32] = 0
    out = run(preprocessing.get_preprocessing("small_cnn_preprocessing", is_training=False), image, 64, 64)
    assert out.shape == (64, 64, 3)
    np.testing.assert_allclose(out[:, :31], -1.0)
    np.testing.assert_allclose(out[:, 33:], 1.0)


@pytest.mark.parametrize("mode, fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("P", "PNG"), ("RGB", "PNG")])
def test_every_image_kind_decodes_to_three_channels(mode, fmt):
    grey = np.full((10, 14, 3), 90, np.uint8)
    buffer = io.BytesIO()
    palette = {"palette": Image.Palette.ADAPTIVE} if mode == "P" else {}
    Image.fromarray(grey).convert(mode, **palette).save(buffer, fmt, quality=100)
    decoded = run(preprocessing.decode_image, buffer.getvalue())
    assert decoded.shape == (10, 14, 3) and decoded.dtype == np.uint8
    if mode != "CMYK":  # CMYK colours differ by the JPEG's inversion convention; only the shape is comparable
        assert np.abs(decoded.astype(int) - 90).max() <= 2


def test_unknown_preprocessing_is_a_clear_error():
    with pytest.raises(UserError, match="Preprocessing name unknown: 'inception'.*vgg_preprocessing"):
        preprocessing.get_preprocessing("inception", is_training=False)


def test_a_workers_dataset_holds_only_its_replicas_shares_split_as_tf_distribute_splits_a_batch(tmp_path):
    """Over several machines each worker reads and decodes only its replicas' shares of every global batch: 11
    images in batches of 4 over 3 replicas (shares 2/1/1, the last batch 3 -> 1/1/1); the workers' shares, in
    replica order, are the global batches."""
    from utils import input_pipeline
    paths = []
    for i in range(11):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(paths[-1])
    labels = list(range(11))

    def elements(replicas):
        with tf.Graph().as_default():
            dataset = input_pipeline.image_dataset(paths, labels, "small_cnn_preprocessing", 8, 4, False,
                                                   replicas=replicas)
            next_element = tf1.data.make_one_shot_iterator(dataset).get_next()
            with tf1.Session() as sess:
                out = []
                while True:
                    try:
                        out.append(sess.run(next_element))
                    except tf.errors.OutOfRangeError:
                        return out

    first, rest = elements(([0], 3)), elements(([1, 2], 3))  # worker 0: replica 0; worker 1: replicas 1 and 2
    assert [e[1].tolist() for e in first] == [[0, 1], [4, 5], [8]]
    assert [e[1].tolist() for e in rest] == [[2], [3], [6], [7], [9], [10]]
    whole = elements(None)
    assert len(whole) == 3
    for batch, shares in zip(whole, zip(first, rest[0::2], rest[1::2])):
        assert np.array_equal(np.concatenate([share[1] for share in shares]), batch[1])
        # the same preprocessing, run per share (tf.map_fn) rather than per image: equal to float rounding
        np.testing.assert_allclose(np.concatenate([share[0] for share in shares]), batch[0], atol=1e-6)


def test_training_batches_change_every_epoch_and_a_seed_repeats_them_at_any_parallelism(tmp_path):
    """Finetuning starts its training iterator again every epoch. Before, that restarted the shuffle's seeded
    stream and the augmentation's stateful ops: every epoch had the same order and crops, and the parallel map's
    threads drew those crops in a varying order (the same seed, another network). Now both are drawn from (seed,
    epoch, image): an epoch is the same pass at 1 or 4 threads, and the next epoch is another one."""
    from utils import input_pipeline
    paths = []
    for i in range(12):  # a horizontal ramp: a crop's offset and a flip show in its first row
        image = np.tile((np.arange(16) * 15 + i)[None, :, None], (16, 1, 3)).astype(np.uint8)
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])

    def epochs(threads, numbers, seed=7):
        with tf.Graph().as_default():
            epoch = tf1.placeholder(tf.int64, [])
            dataset = input_pipeline.image_dataset(paths, list(range(12)), "small_cnn_preprocessing", 16, 5, True,
                                                   seed=seed, epoch=epoch, num_parallel_calls=threads)
            iterator = tf1.data.make_initializable_iterator(dataset)
            batch = iterator.get_next()
            with tf1.Session() as sess:
                out = []
                for number in numbers:
                    sess.run(iterator.initializer, {epoch: number})
                    batches = [sess.run(batch) for _ in range(3)]
                    out.append((np.concatenate([b[1] for b in batches]), np.concatenate([b[0] for b in batches])))
                return out

    (order1, images1), (order2, images2), (again1, again_images1) = epochs(1, [1, 2, 1])
    assert sorted(order1.tolist()) == list(range(12)) and sorted(order2.tolist()) == list(range(12))
    assert order1.tolist() != order2.tolist()  # another order in the next epoch
    np.testing.assert_array_equal(again1, order1)  # an epoch run again (a resumed run) is the same pass
    np.testing.assert_array_equal(again_images1, images1)
    by_image1, by_image2 = images1[np.argsort(order1)], images2[np.argsort(order2)]
    assert sum(not np.array_equal(a, b) for a, b in zip(by_image1, by_image2)) >= 6  # other crops and flips
    (threaded, threaded_images), = epochs(4, [1])
    np.testing.assert_array_equal(threaded, order1)
    np.testing.assert_array_equal(threaded_images, images1)
    (other_seed, _), = epochs(1, [1], seed=8)
    assert other_seed.tolist() != order1.tolist()


def test_every_input_pipeline_has_tf_data_autotuning_off(tmp_path):
    """With autotuning on, switching a stage's shared iterator from the training pipeline to seen-val waited on the
    old pipeline's tuning thread, both cores idle, in most finetuning epochs (docs/scale.md): training and evaluation
    batches, a worker's replica shares and the frozen net's paths and pixels all have it off."""
    from tensorflow.core.framework import dataset_options_pb2
    from utils import input_pipeline

    def autotuning(graph):
        """The autotuning setting of each options op in the graph (what the pipelines run with)."""
        found = []
        for op in graph.get_operations():
            if op.type == "OptionsDataset":
                options = dataset_options_pb2.Options.FromString(op.get_attr("serialized_options"))
                found.append(options.autotune_options.enabled if options.autotune_options.HasField("enabled")
                             else None)
        return found

    path = str(tmp_path / "0.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    with tf.Graph().as_default() as graph:
        pipelines = [input_pipeline.image_dataset([path], [0], "small_cnn_preprocessing", 8, 4, training)
                     for training in (True, False)]
        pipelines.append(input_pipeline.image_dataset([path], [0], "small_cnn_preprocessing", 8, 4, True,
                                                      replicas=([0], 2)))
        frozen = dict(preprocessing_name="small_cnn_preprocessing", image_size=8, batch_size=4)
        pipelines += [input_pipeline.eval_images(paths=tf.constant([path]), **frozen),
                      input_pipeline.eval_images(pixels=tf.zeros([1, 8, 8, 3], tf.uint8), **frozen)]
        assert len(pipelines) == 5 and autotuning(graph) == [False] * 5
    with tf.Graph().as_default() as graph:  # TensorFlow's own default: no options op, autotuning on
        tf.data.Dataset.range(4).batch(2).prefetch(tf.data.AUTOTUNE)
        assert autotuning(graph) == []
