"""Views of an image inside the model: random augmentation while training, fixed views at inference.

Both are Keras layers saved in the model file, so training, evaluation, the CLI and the web app
agree on them without reading params.yaml: the augmentation is the identity outside training, and
test-time augmentation (TTA), when the model carries it, always averages the same views.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

ERASED_AREA = (0.02, 0.33)  # fraction of the image a rectangle erases, as torchvision's RandomErasing
ERASED_RATIO = (0.3, 3.3)  # its height / width, drawn log-uniformly
TTA_SHIFT = 1 / 16  # of the side: 3 px at 48, 14 px at 224, inside the training shifts' range
BLURRED_SHARE = 0.5  # of the training images that `augment.blur` blurs (the rest stay sharp)

AUGMENTATION = "augmentation"  # the training augmentation's layer name in a saved classifier


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class RandomErasing(keras.layers.Layer):
    """With probability `rate`, one random rectangle of a training image becomes noise (Zhong et al.
    2017), so the network learns from partly hidden faces; the identity outside training."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")  # pixels, 0-255, under any policy
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training:
            return images
        ops = keras.ops
        shape = ops.shape(images)
        # Per image: erase or not, area, log aspect ratio, top and left (as fractions of the free room).
        draw = keras.random.uniform((shape[0], 5), seed=self.generator)
        area = ERASED_AREA[0] + draw[:, 1] * (ERASED_AREA[1] - ERASED_AREA[0])
        log_ratio = math.log(ERASED_RATIO[0]) + draw[:, 2] * math.log(ERASED_RATIO[1] / ERASED_RATIO[0])
        height = ops.minimum(ops.sqrt(area * ops.exp(log_ratio)), 1.0)
        width = ops.minimum(ops.sqrt(area / ops.exp(log_ratio)), 1.0)
        top, left = draw[:, 3] * (1 - height), draw[:, 4] * (1 - width)

        def inside(start: tf.Tensor, size: tf.Tensor, pixels: int) -> tf.Tensor:
            centres = (ops.arange(pixels, dtype="float32") + 0.5) / pixels
            return (centres >= start[:, None]) & (centres < (start + size)[:, None])

        mask = (
            inside(top, height, images.shape[1])[:, :, None] & inside(left, width, images.shape[2])[:, None]
        )
        mask = mask & (draw[:, 0] < self.rate)[:, None, None]
        noise = keras.random.uniform(shape, 0, 255, dtype=self.compute_dtype, seed=self.generator)
        return ops.where(mask[..., None], noise, images)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class RandomJpegQuality(keras.layers.Layer):
    """Each training image re-encoded as a JPEG of a quality drawn from `lowest` to 100: the blocks
    and ringing of web photos, which FER2013's faces lack; the identity outside training."""

    def __init__(self, lowest: int, seed: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.lowest, self.seed = int(lowest), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training:
            return images
        qualities = keras.random.randint((tf.shape(images)[0],), self.lowest, 101, seed=self.generator)
        pixels = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)
        encoded = tf.map_fn(
            lambda pair: tf.image.adjust_jpeg_quality(pair[0], pair[1]),
            (pixels, tf.cast(qualities, tf.int32)),
            fn_output_signature=tf.TensorSpec(images.shape[1:], tf.uint8),
        )
        return tf.cast(encoded, images.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lowest": self.lowest, "seed": self.seed}


def build_augmentation(augment: dict[str, Any], seed: int) -> keras.Sequential:
    """The report's random shifts and flips, then the optional rotation, zoom, brightness, contrast,
    blur, JPEG quality and erasing (each left out when off, so the report's augmentation is
    unchanged); active only while training. The photometric ones bridge FER2013's faces (small,
    grey, evenly lit) and faces cropped from photos (lit anyhow, soft, compressed)."""
    flips = [
        name
        for name, on in (("horizontal", augment["horizontal_flip"]), ("vertical", augment["vertical_flip"]))
        if on
    ]
    layers: list[keras.layers.Layer] = [
        keras.layers.RandomTranslation(
            augment["height_shift"], augment["width_shift"], fill_mode="nearest", seed=seed
        )
    ]
    if flips:
        layers.append(keras.layers.RandomFlip("_and_".join(flips), seed=seed + 1))
    if augment["rotation"]:
        layers.append(
            keras.layers.RandomRotation(augment["rotation"] / 360, fill_mode="nearest", seed=seed + 2)
        )
    if augment["zoom"]:
        layers.append(keras.layers.RandomZoom(augment["zoom"], fill_mode="nearest", seed=seed + 3))
    if augment["brightness"]:
        layers.append(keras.layers.RandomBrightness(augment["brightness"], seed=seed + 5))
    if augment["contrast"]:
        # A pair: Keras reads one number f as (0, f), contrast raised only.
        contrast = (augment["contrast"], augment["contrast"])
        layers.append(keras.layers.RandomContrast(contrast, seed=seed + 6))
    if augment["blur"]:  # Keras draws one sigma per batch, and blurs each image with BLURRED_SHARE
        layers.append(
            keras.layers.RandomGaussianBlur(
                (BLURRED_SHARE, BLURRED_SHARE),
                kernel_size=2 * math.ceil(2 * augment["blur"]) + 1,
                sigma=(0.0, augment["blur"]),
                seed=seed + 7,
            )
        )
    if augment["jpeg_quality"]:
        layers.append(RandomJpegQuality(augment["jpeg_quality"], seed=seed + 8))
    if augment["erasing"]:
        layers.append(RandomErasing(augment["erasing"], seed=seed + 4))
    return keras.Sequential(layers, name=AUGMENTATION)


def view_indices(height: int, width: int, shift: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (rows, columns) each test-time view takes from the image: the image, its mirror image,
    and the image moved by `shift` of its side towards each corner, edge pixels repeated (as the
    training shifts fill the edges)."""
    rows, cols = np.arange(height), np.arange(width)
    dy, dx = round(height * shift), round(width * shift)
    moved = [
        (np.clip(rows - sy * dy, 0, height - 1), np.clip(cols - sx * dx, 0, width - 1))
        for sy in (-1, 1)
        for sx in (-1, 1)
    ]
    return [(rows, cols), (rows, cols[::-1]), *moved]


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class TestTimeViews(keras.layers.Layer):
    """Each image as the fixed views of `view_indices`, stacked view after view along the batch;
    `ViewMean` averages the model's answers to them."""

    def __init__(self, shift: float = TTA_SHIFT, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.shift = float(shift)
        self.count = len(view_indices(1, 1, self.shift))  # the number of views, whatever the size

    def call(self, images: tf.Tensor) -> tf.Tensor:
        ops = keras.ops
        views = view_indices(images.shape[1], images.shape[2], self.shift)
        return ops.concatenate([ops.take(ops.take(images, r, axis=1), c, axis=2) for r, c in views], axis=0)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (None, *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shift": self.shift}


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class ViewMean(keras.layers.Layer):
    """The mean of the class probabilities over each image's `views` test-time views."""

    def __init__(self, views: int, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.views = int(views)

    def call(self, probabilities: tf.Tensor) -> tf.Tensor:
        classes = probabilities.shape[-1]
        return keras.ops.mean(keras.ops.reshape(probabilities, (self.views, -1, classes)), axis=0)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (None, *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "views": self.views}
