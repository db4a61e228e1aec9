"""Training recipes: the report's head on cached features or online, and optional fine-tuning.

Every recipe ends in the same artifact: one classifier taking raw RGB, preprocessing inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.utils import standardize_metric_name

from emotion_pipeline.data import decoded_images, one_hot


class LiveMetrics(keras.callbacks.Callback):
    """Per-epoch metrics to DVCLive; unlike DVCLive's own callback it does not end the run, so a
    second training phase continues the same curves."""

    def __init__(self, live: Live) -> None:
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        for name, value in (logs or {}).items():
            if name in ("loss", "accuracy", "val_loss", "val_accuracy"):
                self.live.log_metric(standardize_metric_name(name, "dvclive.keras"), float(value))
        self.live.next_step()


def class_weights(labels: Sequence[str], classes: Sequence[str]) -> dict[int, float]:
    """Weights inversely proportional to class frequency ('balanced', as scikit-learn defines it)."""
    counts = np.array([list(labels).count(name) for name in classes], dtype="float64")
    return {i: float(len(labels) / (len(classes) * n)) for i, n in enumerate(counts) if n}


def callbacks(live: Live | None, train: dict[str, Any], validated: bool) -> list[keras.callbacks.Callback]:
    """DVCLive logging, plus early stopping on validation loss (best weights restored) when asked."""
    result: list[keras.callbacks.Callback] = [LiveMetrics(live)] if live else []
    if train["early_stopping"] and validated:
        result.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=int(train["early_stopping"]), restore_best_weights=True
            )
        )
    return result


def compile_model(model: keras.Model, learning_rate: float, label_smoothing: float) -> None:
    """Adam and categorical cross-entropy, as in the report (label smoothing optional)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )


def image_batches(
    paths: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    size: int,
    batch: int,
    seed: int | None,
) -> tf.data.Dataset:
    """(image, one-hot) batches, decoded once and kept in memory; shuffled each epoch when seeded."""
    dataset = tf.data.Dataset.zip(
        decoded_images(paths, size), tf.data.Dataset.from_tensor_slices(one_hot(labels, classes))
    ).cache()
    if seed is not None:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch).prefetch(tf.data.AUTOTUNE)


def set_trainable_blocks(base: keras.Model, blocks: int | None) -> None:
    """Freeze the base, then unfreeze its last `blocks` convolutional blocks (None: all of it)."""
    names = sorted({layer.name.split("_")[0] for layer in base.layers if layer.name.startswith("block")})
    unfrozen = set(names if blocks is None else names[len(names) - blocks :] if blocks else [])
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.split("_")[0] in unfrozen


def fit(
    model: keras.Model,
    data: tf.data.Dataset | tuple[np.ndarray, np.ndarray],
    validation: tf.data.Dataset | tuple[np.ndarray, np.ndarray] | None,
    epochs: int,
    params: dict[str, Any],
    live: Live | None,
    weights: dict[int, float] | None,
    initial_epoch: int = 0,
) -> int:
    """One training phase; returns the epoch count reached, so a next phase continues from it."""
    arrays = isinstance(data, tuple)  # cached features; a dataset is batched and shuffled already
    x, y = data if arrays else (data, None)
    history = model.fit(
        x,
        y,
        batch_size=params["batch_size"] if arrays else None,
        shuffle=arrays,
        validation_data=validation,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        class_weight=weights,
        callbacks=callbacks(live, params["train"], validation is not None),
        verbose=2 if live else 0,
    )
    return initial_epoch + len(history.epoch)
