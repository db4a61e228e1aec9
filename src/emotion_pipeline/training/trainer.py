"""Training phases: the optimizer, weight decay and learning-rate schedule of each, the network's
trainable parts, and a `Trainer` that runs phases which continue one another.

Every recipe ends in the same artifact: one classifier taking raw RGB, preprocessing inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live

from emotion_pipeline.core.params import selected_metric
from emotion_pipeline.model.network import assemble, build_head, build_vgg16
from emotion_pipeline.model.views import build_augmentation
from emotion_pipeline.training.batches import EpochViews
from emotion_pipeline.training.callbacks import PLATEAU_FACTOR, PLATEAU_PATIENCE, KeepBest, LiveMetrics
from emotion_pipeline.training.resume import Epoch, Resume, SaveEpochs


def class_weights(labels: Sequence[str], classes: Sequence[str]) -> dict[int, float]:
    """Weights inversely proportional to class frequency ('balanced', as scikit-learn defines it)."""
    counts = np.array([list(labels).count(name) for name in classes], dtype="float64")
    return {i: float(len(labels) / (len(classes) * n)) for i, n in enumerate(counts) if n}


def learning_rates(
    schedule: str, rate: float, steps_per_epoch: int, epochs: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A phase's learning rate: `rate` (the plateau schedule cuts it from a callback), or for `cosine`
    a linear warm-up from 0 over the first epoch, then a cosine decay to 0 at the phase's end."""
    if schedule != "cosine":
        return rate
    warmup = steps_per_epoch if epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else rate,
        steps_per_epoch * epochs - warmup,
        warmup_target=rate if warmup else None,
        warmup_steps=warmup,
    )


def compile_model(
    model: keras.Model,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    label_smoothing: float,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
) -> None:
    """Adam as in the report, or SGD with Nesterov momentum 0.9, with decoupled weight decay when
    not 0; categorical cross-entropy (label smoothing optional); accuracy and macro-F1."""
    decay = weight_decay or None
    if optimizer == "sgd":
        chosen = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=decay)
    else:
        chosen = keras.optimizers.Adam(learning_rate, weight_decay=decay)
    model.compile(
        optimizer=chosen,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy", keras.metrics.F1Score(average="macro", name="macro_f1")],
    )


def set_trainable_blocks(base: keras.Model, blocks: int | None) -> None:
    """Freeze the base, then unfreeze its last `blocks` convolutional blocks (None: all of it)."""
    names = sorted({layer.name.split("_")[0] for layer in base.layers if layer.name.startswith("block")})
    unfrozen = set(names if blocks is None else names[len(names) - blocks :] if blocks else [])
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.split("_")[0] in unfrozen


@dataclass(frozen=True)
class Network:
    """The classifier's trainable parts as params describe them: VGG16 (with the given weights), the
    report's head and the training augmentation; `model()` joins them into the saved classifier."""

    params: dict[str, Any]
    classes: list[str]
    base: keras.Model
    head: keras.Model
    augmentation: keras.Sequential | None

    @classmethod
    def build(cls, params: dict[str, Any], base_weights: str | Path, classes: list[str]) -> Network:
        model = params["model"]
        base = build_vgg16(base_weights, params["image_size"], model["batch_norm"], model["width_multiplier"])
        head = build_head(base.output_shape[1:], classes, model["dense_units"], model["dropout"])
        return cls(params, classes, base, head, build_augmentation(params["augment"], params["seed"]))

    def model(self, tta: bool = False, faces: dict[str, Any] | None = None) -> keras.Model:
        """The classifier on these layers (shared, not copied); with `tta`, answering the mean over
        the test-time views; with `faces`, carrying the face settings it was trained with."""
        size, grey = self.params["image_size"], self.params["model"]["grayscale"]
        return assemble(self.base, self.head, self.classes, size, self.augmentation, tta, faces, grey)


def finetune(
    trainer: Trainer, network: Network, data: tf.data.Dataset, validation: tf.data.Dataset | None = None
) -> None:
    """The recipe's second phase: the last `train.finetune_blocks` VGG16 blocks unfrozen, trained
    through the whole classifier for `train.finetune_epochs` at `train.finetune_learning_rate`."""
    train = network.params["train"]
    set_trainable_blocks(network.base, int(train["finetune_blocks"]))
    trainer.fit(network.model(), data, validation, train["finetune_epochs"], train["finetune_learning_rate"])


class Trainer:
    """Training phases that continue one another: the epoch count, the DVCLive curves and the best
    validation score so far (for `train.select`) carry from one phase to the next. With `resume`,
    each epoch of a phase that trains images online is saved, and a saved epoch is taken up again:
    the phases it had finished are skipped (their result is in its weights), its own continues."""

    def __init__(
        self,
        params: dict[str, Any],
        live: Live | None = None,
        weights: dict[int, float] | None = None,
        resume: Resume | None = None,
    ) -> None:
        self.params, self.live, self.weights, self.resume = params, live, weights, resume
        self.epoch = 0
        self.best: float | None = None
        self.phase = 0
        self.passes: dict[int, int] = {}  # shuffled datasets (by id): passes Keras has begun on each

    def callbacks(
        self, validated: bool, epochs: int
    ) -> tuple[list[keras.callbacks.Callback], KeepBest | None, keras.callbacks.ReduceLROnPlateau | None]:
        """DVCLive logging, keeping the best epoch (with early stopping), and the plateau schedule."""
        train = self.params["train"]
        monitor = selected_metric(train) if validated else None
        # Without early stopping the patience outlasts the phase: the best epoch is kept, none stops it.
        keep = KeepBest(monitor, train["early_stopping"] or epochs, self.best) if monitor else None
        plateau = None
        if train["schedule"] == "plateau":
            plateau = keras.callbacks.ReduceLROnPlateau(
                "val_accuracy" if validated else "accuracy",
                factor=PLATEAU_FACTOR,
                patience=PLATEAU_PATIENCE,
                mode="max",
            )
        result = [LiveMetrics(self.live)] if self.live else []
        return [*result, *(c for c in (keep, plateau) if c is not None)], keep, plateau

    def fit(
        self,
        model: keras.Model,
        data: tf.data.Dataset | EpochViews | tuple[np.ndarray, np.ndarray],
        validation: tf.data.Dataset | tuple[np.ndarray, np.ndarray] | None,
        epochs: int,
        learning_rate: float,
    ) -> keras.callbacks.History:
        """Compile `model` for this phase and train it `epochs` epochs (fewer if stopped early)."""
        arrays = isinstance(data, tuple)  # features; a dataset is batched and shuffled already
        batch = self.params["batch_size"]
        if isinstance(data, EpochViews):
            if len(data.orders) != epochs:
                raise ValueError(f"cached views ordered for {len(data.orders)} epochs, not {epochs}")
            x, y, steps = data.dataset(), None, data.steps
        elif arrays:
            (x, y), steps = data, math.ceil(len(data[0]) / batch)
        else:
            x, y, steps = data, None, int(data.cardinality())
        if isinstance(validation, tuple):  # Keras re-wraps NumPy arrays every epoch: 2 s in 30 epochs
            validation = tf.data.Dataset.from_tensor_slices(validation).batch(batch).cache()
        self.phase += 1
        saved = self.resume.saved if self.resume is not None else None
        if saved is not None and saved.phase > self.phase:  # finished before the interrupt
            self.epoch = saved.phase_start
            return keras.callbacks.History()
        resumed = saved if saved is not None and saved.phase == self.phase else None
        shuffled = isinstance(data, tf.data.Dataset)  # images, trained on online
        before = resumed.shuffles_before if resumed else self.passes.get(id(data), 0)
        end, start = self.epoch + epochs, resumed.epoch if resumed else self.epoch
        drawn = before + start - self.epoch  # passes begun before this process's first one
        if resumed and shuffled:  # each pass draws the next order: draw the ones already trained on
            for _ in range(drawn):
                iter(x)
        train = self.params["train"]
        rate = learning_rates(train["schedule"], learning_rate, steps, epochs)
        compile_model(model, rate, train["label_smoothing"], train["optimizer"], train["weight_decay"])
        callbacks, keep, plateau = self.callbacks(validation is not None, epochs)
        if self.resume is not None and shuffled:  # images through the network: epochs worth saving
            where = Epoch(self.phase, self.epoch, self.epoch, before)
            callbacks.append(SaveEpochs(self.resume, where, keep, plateau, self.live))
        history = model.fit(
            x,
            y,
            batch_size=batch if arrays else None,
            shuffle=arrays,
            validation_data=validation,
            epochs=end,
            initial_epoch=end if resumed and resumed.stopped else start,
            steps_per_epoch=steps,
            class_weight=self.weights,
            callbacks=callbacks,
            verbose=2 if self.live else 0,
        )
        if shuffled:  # Keras begins a pass before each epoch and one more after the last
            self.passes[id(data)] = drawn + len(history.epoch) + 1
        self.epoch = start + len(history.epoch)
        if resumed is not None:
            self.resume.saved = None
        if keep is not None:
            self.best = keep.best
        return history
