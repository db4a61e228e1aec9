"""The frozen base's outputs computed once: validation images as they are, training images as K
augmented views, so that training the head reads features instead of running VGG16 every epoch."""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
import tensorflow as tf


def extract(
    extractor: keras.Model,
    images: tf.data.Dataset,
    count: int,
    batch_size: int,
    label: str,
    views: int = 1,
    augmentation: keras.Sequential | None = None,
) -> np.ndarray:
    """Features of `count` decoded images, `views` augmented copies of each in a row when augmenting:
    an image is decoded once and augmented `views` times."""
    dataset = images
    if views > 1:
        dataset = dataset.flat_map(lambda image: tf.data.Dataset.from_tensors(image).repeat(views))
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    @tf.function(reduce_retracing=True)
    def forward(images: tf.Tensor) -> tf.Tensor:
        if augmentation is not None:
            images = augmentation(images, training=True)
        return tf.cast(extractor(images, training=False), tf.float32)

    total = count * views
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
