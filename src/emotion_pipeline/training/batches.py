"""What a training phase iterates over: decoded image batches (optionally mixed up), or the feature
cache's augmented views, one per image each epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from emotion_pipeline.training.pipelines import decoded_images, one_hot


def image_batches(
    paths: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    size: int,
    batch: int,
    seed: int | None,
    mixup: float = 0.0,
) -> tf.data.Dataset:
    """(image, one-hot) batches, decoded once and kept in memory; shuffled each epoch when seeded.
    With `mixup` (alpha), each image and its label are blended with another of the batch's, by a
    weight drawn from Beta(alpha, alpha) (Zhang et al. 2018): soft targets between classes."""
    dataset = tf.data.Dataset.zip(
        decoded_images(paths, size), tf.data.Dataset.from_tensor_slices(one_hot(labels, classes))
    ).cache()
    if seed is not None:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch)
    if mixup:
        blend = keras.layers.MixUp(mixup, seed=seed, dtype="float32")  # pixels stay float32 under bfloat16

        def mixed(images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            both = blend({"images": images, "labels": targets})
            return both["images"], both["labels"]

        dataset = dataset.map(mixed)
    return dataset.prefetch(tf.data.AUTOTUNE)


class EpochViews:
    """Cached features fed as the report's augmentation fed images: each epoch every training image
    once, in a new order, as one of its K cached augmented views (epoch e takes view e mod K), so an
    epoch is as many steps whether the head learns from the cache or online. Batch i of the whole run
    depends on i alone (not on when Keras calls back), so a run is the same every time."""

    def __init__(
        self, views: np.ndarray, targets: np.ndarray, batch_size: int, epochs: int, seed: int
    ) -> None:
        self.count, self.batch_size = views.shape[1], batch_size  # views per image
        # One tensor, image i's view k at row i x count + k, and no NumPy copy kept beside it.
        self.views = tf.constant(views.reshape(-1, *views.shape[2:]))
        self.targets = tf.constant(targets)
        rng = np.random.default_rng(seed)
        self.orders = [rng.permutation(len(views)) for _ in range(epochs)]
        self.steps = math.ceil(len(views) / batch_size)  # per epoch

    def __len__(self) -> int:
        return len(self.orders) * self.steps

    def rows(self, index: int) -> np.ndarray:
        """Batch `index`'s rows of `views`: its images, each as the epoch's view (image = row // count)."""
        epoch, step = divmod(index, self.steps)
        images = self.orders[epoch][step * self.batch_size : (step + 1) * self.batch_size]
        return images * self.count + epoch % self.count

    def batch(self, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The features and one-hot targets of those rows: one gather serves indexing and the dataset."""
        return tf.gather(self.views, rows), tf.gather(self.targets, rows // self.count)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.batch(tf.constant(self.rows(index)))
        return x.numpy(), y.numpy()

    def dataset(self) -> tf.data.Dataset:
        """The run's batches in order, gathered inside TensorFlow: handing Keras one NumPy batch at a
        time from Python cost the improved run a second."""
        picked = [self.rows(index) for index in range(len(self))]
        batches = tf.RaggedTensor.from_row_lengths(np.concatenate(picked), [len(rows) for rows in picked])
        return tf.data.Dataset.from_tensor_slices(batches).map(self.batch).prefetch(tf.data.AUTOTUNE)
