"""Preprocessing factory (the tf-slim research/slim pattern): name -> fn(image, height, width) for train or eval.

`vgg_preprocessing` reproduces tf-slim's vgg_preprocessing.py (used by vgg_16 and resnet_v1_*): RGB means subtracted
on the 0-255 scale; eval resizes the short side to 256 with the v1 `resize_bilinear` (not tf.image.resize, whose
half-pixel centres differ) and crops the centre; train draws the short side in [256, 512], crops at random and flips.
`efficientnet_preprocessing` is what the EfficientNet-Lite weights were trained with: RGB (x - 127) / 128 (not the
ImageNet mean/std, which measurably lowers their accuracy); eval resizes the short side to 256 (bicubic, antialiased)
and crops the centre; train draws the short side in [224, 320], crops at random and flips.
"""
import numpy as np

from utils.cli import UserError
from utils.tf_compat import tf, tf1

_R_MEAN, _G_MEAN, _B_MEAN = 123.68, 116.78, 103.94
_RESIZE_SIDE_MIN, _RESIZE_SIDE_MAX = 256, 512
_SMALL_CNN_PAD = 4
_EFFICIENTNET_CENTER, _EFFICIENTNET_SCALE = 127.0, 128.0
_EFFICIENTNET_TRAIN_SIDES = (224, 320)


def decode_image(contents):
    """Any JPEG (RGB, grayscale, CMYK), PNG, GIF or BMP -> uint8 [H, W, 3]."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _smallest_size_at_least(height, width, smallest_side):
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    scale = tf.cond(height > width, lambda: smallest_side / width, lambda: smallest_side / height)
    return tf.cast(tf.math.rint(height * scale), tf.int32), tf.cast(tf.math.rint(width * scale), tf.int32)


def _aspect_preserving_resize(image, smallest_side, bicubic=False):
    shape = tf.shape(image)
    new_height, new_width = _smallest_size_at_least(shape[0], shape[1], tf.cast(smallest_side, tf.float32))
    if bicubic:
        resized = tf.image.resize(tf.cast(image, tf.float32), [new_height, new_width], method="bicubic",
                                  antialias=True)
    else:
        resized = tf.squeeze(tf1.image.resize_bilinear(image[None], [new_height, new_width], align_corners=False),
                             [0])
    resized.set_shape([None, None, 3])
    return resized


def _central_crop(image, height, width):
    shape = tf.shape(image)
    offset_h, offset_w = (shape[0] - height) // 2, (shape[1] - width) // 2
    return tf.slice(image, [offset_h, offset_w, 0], [height, width, 3])


def _random_int(seed, low, high):
    """An int32 drawn uniformly from [low, high] by the stateless generator at `seed`."""
    return tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1, dtype=tf.int32)


def _random_crop_and_flip(image, height, width, seed):
    """A height x width crop at a random offset, flipped left-right half of the time, all drawn from `seed`."""
    shape = tf.shape(image)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    offset_h = _random_int(seeds[0], 0, shape[0] - height)
    offset_w = _random_int(seeds[1], 0, shape[1] - width)
    crop = tf.slice(image, [offset_h, offset_w, 0], [height, width, 3])
    return tf.image.stateless_random_flip_left_right(crop, seeds[2])


def _resized_crop(image, height, width, is_training, train_sides, seed, bicubic=False):
    """The slim-style crop both ImageNet preprocessings share: train draws the short side in `train_sides`, resizes
    to it, crops at random and flips; eval resizes the short side to 256 and crops the centre. float32 pixels."""
    if is_training:
        seeds = tf.random.experimental.stateless_split(seed, 2)
        side = _random_int(seeds[0], *train_sides)
        image = _random_crop_and_flip(_aspect_preserving_resize(image, side, bicubic), height, width, seeds[1])
    else:
        image = _central_crop(_aspect_preserving_resize(image, _RESIZE_SIDE_MIN, bicubic), height, width)
    image = tf.cast(image, tf.float32)
    image.set_shape([height, width, 3])
    return image


def vgg_preprocessing(image, height, width, is_training, seed):
    image = _resized_crop(image, height, width, is_training, (_RESIZE_SIDE_MIN, _RESIZE_SIDE_MAX), seed)
    return image - tf.constant([_R_MEAN, _G_MEAN, _B_MEAN], dtype=tf.float32)


def vgg_plain_resize(image, height, width, is_training, seed):
    """The original release's preprocessing of its VGG finetuning and of alpha2w's `prepro` "old" / "new": the whole
    image resized to height x width (aspect ratio not kept), the channel means subtracted, no augmentation in
    training either (docs/deviations.md)."""
    del is_training, seed  # the same in training and evaluation
    image = tf1.image.resize_bilinear(image[None], [height, width], align_corners=False)[0]
    image.set_shape([height, width, 3])
    return image - tf.constant([_R_MEAN, _G_MEAN, _B_MEAN], dtype=tf.float32)


def small_cnn_preprocessing(image, height, width, is_training, seed):
    """Resize to height x width, scale to [-1, 1]; train adds a random shift (reflect-pad 4, crop) and a flip."""
    image = tf1.image.resize_bilinear(image[None], [height, width], align_corners=False)[0]
    if is_training:
        pad = _SMALL_CNN_PAD
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        image = _random_crop_and_flip(image, height, width, seed)
    image.set_shape([height, width, 3])
    return image / 127.5 - 1.0


def efficientnet_preprocessing(image, height, width, is_training, seed):
    image = _resized_crop(image, height, width, is_training, _EFFICIENTNET_TRAIN_SIDES, seed, bicubic=True)
    return (tf.clip_by_value(image, 0.0, 255.0) - _EFFICIENTNET_CENTER) / _EFFICIENTNET_SCALE


PREPROCESSING_FNS = {
    "vgg_preprocessing": vgg_preprocessing,
    "vgg_plain_resize": vgg_plain_resize,
    "small_cnn_preprocessing": small_cnn_preprocessing,
    "efficientnet_preprocessing": efficientnet_preprocessing,
}

# Inverse of each preprocessing's final scaling: network input -> 0-255 RGB, to show what the network saw.
_TO_DISPLAY = {
    "vgg_preprocessing": lambda images: images + np.array([_R_MEAN, _G_MEAN, _B_MEAN], np.float32),
    "vgg_plain_resize": lambda images: images + np.array([_R_MEAN, _G_MEAN, _B_MEAN], np.float32),
    "small_cnn_preprocessing": lambda images: (images + 1.0) * 127.5,
    "efficientnet_preprocessing": lambda images: images * _EFFICIENTNET_SCALE + _EFFICIENTNET_CENTER,
}


def to_display(name, images):
    """Preprocessed float images (numpy, [..., 3]) -> uint8 RGB of the crop the network saw."""
    return np.clip(np.rint(_TO_DISPLAY[name](np.asarray(images, np.float32))), 0, 255).astype(np.uint8)


def get_preprocessing(name, is_training):
    """Return fn(uint8 image [H, W, 3], height, width, seed=None) -> float32 [height, width, 3]. Training draws its
    augmentation statelessly from `seed` (shape [2], an image's own: utils/input_pipeline.py), so that a seed gives
    the same crops and flips however many threads preprocess; evaluation draws nothing."""
    if name not in PREPROCESSING_FNS:
        raise UserError(f"Preprocessing name unknown: '{name}'; choose one of {', '.join(sorted(PREPROCESSING_FNS))}")
    fn = PREPROCESSING_FNS[name]
    return lambda image, height, width, seed=None: fn(image, height, width, is_training, seed)
