"""The frozen base's outputs computed once: validation images as they are, training images as K
augmented views, so that training the head reads features instead of running VGG16 every epoch."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from emotion_pipeline.data import decoded_images


def extract(
    extractor: keras.Model,
    paths: Sequence[str],
    image_size: int,
    batch_size: int,
    label: str,
    views: int = 1,
    augmentation: keras.Sequential | None = None,
) -> np.ndarray:
    """Features of each image (`views` augmented copies in a row when augmenting); each decoded once."""
    dataset = decoded_images(paths, image_size)
    if views > 1:
        dataset = dataset.flat_map(lambda image: tf.data.Dataset.from_tensors(image).repeat(views))
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    @tf.function(reduce_retracing=True)
    def forward(images: tf.Tensor) -> tf.Tensor:
        if augmentation is not None:
            images = augmentation(images, training=True)
        return tf.cast(extractor(images, training=False), tf.float32)

    total = len(paths) * views
    done, started, chunks = 0, time.perf_counter(), []
    for step, batch in enumerate(dataset, 1):
        chunks.append(forward(batch).numpy())
        done += len(chunks[-1])
        if step % 10 == 0 or done == total:
            rate = done / (time.perf_counter() - started)
            print(f"features: {label} {done}/{total} images ({rate:.1f} img/s)", file=sys.stderr, flush=True)
    if not chunks:
        return np.zeros((0, *extractor.output_shape[1:]), dtype="float32")
    return np.concatenate(chunks)
