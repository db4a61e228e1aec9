"""Training recipes: the report's head on cached features or online, optional fine-tuning, and the
recipe's switches: optimizer, weight decay, learning-rate schedule and which epoch's weights to keep.

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
from dvclive.utils import standardize_metric_name

from emotion_pipeline.model.network import assemble, build_head, build_vgg16
from emotion_pipeline.model.views import build_augmentation
from emotion_pipeline.model.weights import grayscale
from emotion_pipeline.training.pipelines import decoded_images, one_hot

LOGGED = ("loss", "accuracy", "macro_f1")  # per epoch, for training and (val_) validation
SELECTABLE = {"val_loss": "min", "val_macro_f1": "max"}  # train.select's metrics, and which way is better
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.75, 5  # as Khaireddin & Chen (2021) on FER2013, on val accuracy


class LiveMetrics(keras.callbacks.Callback):
    """Per-epoch metrics and learning rate to DVCLive; unlike DVCLive's own callback it does not end
    the run, so a second training phase continues the same curves."""

    def __init__(self, live: Live) -> None:
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        values = {
            standardize_metric_name(name, "dvclive.keras"): float(value)
            for name, value in (logs or {}).items()
            if name.removeprefix("val_") in LOGGED
        }
        # The rate of the epoch's last step (before a plateau cut, which runs after this callback).
        values["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for name, value in values.items():  # timestamped: each epoch's wall time can be read back
            self.live.log_metric(name, value, timestamp=True)
        self.live.next_step()


class KeepBest(keras.callbacks.EarlyStopping):
    """Keras' early stopping, always restoring the best epoch's weights at the end, with a score to
    beat from earlier phases: a phase none of whose epochs beats it ends with the weights it started
    from (the earlier phases' best)."""

    def __init__(self, monitor: str, patience: int, best: float | None) -> None:
        super().__init__(monitor, patience=patience, mode=SELECTABLE[monitor], restore_best_weights=True)
        self.start = best

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        super().on_train_begin(logs)
        if self.start is not None:
            self.best, self.best_weights = self.start, self.model.get_weights()


def selected_metric(train: dict[str, Any]) -> str | None:
    """The validation metric whose best epoch is kept and early stopping watches: `train.select`,
    or validation loss where only early stopping is on (as before `select`); None: the last epoch."""
    if train["select"] != "last":
        return str(train["select"])
    return "val_loss" if train["early_stopping"] else None


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
    grayscale: bool = False  # asked for, or learnt by the base (`weights.grayscale`)

    @classmethod
    def build(cls, params: dict[str, Any], base_weights: str | Path, classes: list[str]) -> Network:
        model = params["model"]
        base = build_vgg16(base_weights, params["image_size"], model["batch_norm"], model["width_multiplier"])
        head = build_head(base.output_shape[1:], classes, model["dense_units"], model["dropout"])
        grey = grayscale(model, base_weights)
        return cls(params, classes, base, head, build_augmentation(params["augment"], params["seed"]), grey)

    def model(self, tta: bool = False, faces: dict[str, Any] | None = None) -> keras.Model:
        """The classifier on these layers (shared, not copied); with `tta`, answering the mean over
        the test-time views; with `faces`, carrying the face settings it was trained with."""
        size, grey = self.params["image_size"], self.grayscale
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
    validation score so far (for `train.select`) carry from one phase to the next."""

    def __init__(
        self, params: dict[str, Any], live: Live | None = None, weights: dict[int, float] | None = None
    ) -> None:
        self.params, self.live, self.weights = params, live, weights
        self.epoch = 0
        self.best: float | None = None

    def callbacks(
        self, validated: bool, epochs: int
    ) -> tuple[list[keras.callbacks.Callback], KeepBest | None]:
        """DVCLive logging, keeping the best epoch (with early stopping), and the plateau schedule."""
        train = self.params["train"]
        monitor = selected_metric(train) if validated else None
        # Without early stopping the patience outlasts the phase: the best epoch is kept, none stops it.
        keep = KeepBest(monitor, train["early_stopping"] or epochs, self.best) if monitor else None
        result: list[keras.callbacks.Callback] = [LiveMetrics(self.live)] if self.live else []
        result += [keep] if keep else []
        if train["schedule"] == "plateau":
            result.append(
                keras.callbacks.ReduceLROnPlateau(
                    "val_accuracy" if validated else "accuracy",
                    factor=PLATEAU_FACTOR,
                    patience=PLATEAU_PATIENCE,
                    mode="max",
                )
            )
        return result, keep

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
        train = self.params["train"]
        rate = learning_rates(train["schedule"], learning_rate, steps, epochs)
        compile_model(model, rate, train["label_smoothing"], train["optimizer"], train["weight_decay"])
        callbacks, keep = self.callbacks(validation is not None, epochs)
        history = model.fit(
            x,
            y,
            batch_size=batch if arrays else None,
            shuffle=arrays,
            validation_data=validation,
            epochs=self.epoch + epochs,
            initial_epoch=self.epoch,
            steps_per_epoch=steps,
            class_weight=self.weights,
            callbacks=callbacks,
            verbose=2 if self.live else 0,
        )
        self.epoch += len(history.epoch)
        if keep is not None:
            self.best = keep.best
        return history
