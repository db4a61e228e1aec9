"""The frozen base's outputs computed once per image, so training the head reads features instead
of running VGG16 every epoch (`feature_cache` stores them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from emotion_pipeline.core.progress import Progress
from emotion_pipeline.model.network import build_vgg16, feature_extractor
from emotion_pipeline.model.runtime import seed_everything, set_precision
from emotion_pipeline.model.views import build_augmentation
from emotion_pipeline.model.weights import grayscale
from emotion_pipeline.training.feature_cache import SplitFeatures
from emotion_pipeline.training.pipelines import decoded_images


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

    progress = Progress(f"features: {label}", count * views)
    chunks = []
    for batch in dataset:
        chunks.append(forward(batch).numpy())
        progress.advance(len(chunks[-1]))
    if not chunks:
        return np.zeros((0, *extractor.output_shape[1:]), dtype="float32")
    return np.concatenate(chunks)


class Extractor:
    """The frozen VGG16 set up as the run's params say (input size, precision, seeded augmentation):
    one setup for every stage that computes features, so their features agree."""

    def __init__(self, params: dict[str, Any], base_weights: str | Path) -> None:
        seed_everything(params["seed"])
        self.policy = set_precision(params["precision"])
        self.size, self.batch_size = params["image_size"], params["batch_size"]
        self.views = int(params["augment"]["views"])
        model = params["model"]
        base = build_vgg16(base_weights, self.size, model["batch_norm"], model["width_multiplier"])
        self.model = feature_extractor(base, self.size, grayscale(model, base_weights))
        self.augmentation = build_augmentation(params["augment"], params["seed"])

    def __str__(self) -> str:
        return f"{self.size}px, {self.policy}, {self.views} augmented views per image trained on"

    def split(
        self, paths: Sequence[str], labels: Sequence[str], name: str, views: bool, plain: bool
    ) -> SplitFeatures:
        """A split's features: augmented views of each image and/or its plain features; when both
        are asked for, each image is decoded once."""
        images = decoded_images(paths, self.size)
        if views and plain:
            images = images.cache()  # both passes read pixels decoded once
        augmented = None
        if views:
            augmented = extract(
                self.model,
                images,
                len(paths),
                self.batch_size,
                f"{name} views",
                self.views,
                self.augmentation,
            )
            augmented = augmented.reshape(len(paths), self.views, *augmented.shape[1:])
        plain_features = extract(self.model, images, len(paths), self.batch_size, name) if plain else None
        return SplitFeatures(np.asarray(labels, dtype=str), augmented, plain_features)
