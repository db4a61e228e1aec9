"""tf.data input pipelines over the one image loader: parallel decoding, batching, prefetch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from emotion_pipeline.data.images import load_image


def decoded_images(paths: Sequence[str], image_size: int) -> tf.data.Dataset:
    """uint8 RGB images decoded in parallel by `load_image`, in the order given."""

    def decode(path: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(lambda p: load_image(p.decode(), image_size), [path], tf.uint8)
        return tf.ensure_shape(image, (image_size, image_size, 3))

    return tf.data.Dataset.from_tensor_slices(list(paths)).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def one_hot(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Labels as one-hot float32 rows in the order of `classes`."""
    index = {name: i for i, name in enumerate(classes)}
    return np.eye(len(classes), dtype="float32")[[index[label] for label in labels]]
