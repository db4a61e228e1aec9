"""One call that trains a classifier from params and data: the train stage's whole recipe (the head on
cached features or online, fine-tuning, the kept epoch, calibration, TTA, the face settings), and
each cross-validation fold's, so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live

from emotion_pipeline.core.params import trains_online
from emotion_pipeline.data.faces import read_settings, settings_config
from emotion_pipeline.data.splitting import read_split
from emotion_pipeline.model.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
)
from emotion_pipeline.model.network import with_temperature
from emotion_pipeline.model.runtime import distribution_strategy, seed_everything, set_precision
from emotion_pipeline.training.batches import EpochViews, image_batches
from emotion_pipeline.training.feature_cache import load_features
from emotion_pipeline.training.pipelines import one_hot
from emotion_pipeline.training.remembering import keep_the_face_model
from emotion_pipeline.training.resume import Resume
from emotion_pipeline.training.trainer import Network, Trainer, class_weights, finetune, set_trainable_blocks


@dataclass(frozen=True)
class Examples:
    """Labelled images, and where the feature cache holds them, their VGG16 features: augmented
    `views` (n, K, ...) where they are trained on, `plain` (n, ...) where they are scored."""

    paths: np.ndarray
    labels: np.ndarray
    views: np.ndarray | None = None
    plain: np.ndarray | None = None

    @classmethod
    def of(cls, paths: Sequence[str], labels: Sequence[str], **features: np.ndarray | None) -> Examples:
        return cls(np.asarray(paths, dtype=str), np.asarray(labels, dtype=str), **features)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, rows: np.ndarray) -> Examples:
        """These examples' `rows`, features included."""
        return Examples(
            self.paths[rows],
            self.labels[rows],
            None if self.views is None else self.views[rows],
            None if self.plain is None else self.plain[rows],
        )


@dataclass(frozen=True)
class TrainingData:
    """What a classifier learns from: the training examples (with cached views the head learns from
    the cache, without it images go through VGG16 every epoch), the validation examples if any (with
    plain features when the head learns from the cache), the face settings its images were framed
    with, and the seed of the run (a fold's own)."""

    classes: list[str]
    train: Examples
    val: Examples | None
    seed: int
    faces: dict[str, Any] | None = None

    @property
    def online(self) -> bool:
        return self.train.views is None

    def images(self) -> list[tuple[str, str]]:
        """Every (path, label) the training reads: the training images, then the validation ones."""
        parts = [self.train] + ([self.val] if self.val is not None else [])
        return [(str(p), str(y)) for part in parts for p, y in zip(part.paths, part.labels, strict=True)]


def stage_data(params: dict[str, Any], split_dir: str | Path, features_dir: str | Path) -> TrainingData:
    """The train stage's data: the split's training and validation lists and face settings, with the
    feature stage's cache unless the params train online."""
    split = Path(split_dir)
    (train_paths, train_labels), (val_paths, val_labels) = (
        read_split(split / f"{n}.csv") for n in ("train", "val")
    )
    train, val = Examples.of(train_paths, train_labels), Examples.of(val_paths, val_labels)
    if not trains_online(params):
        train = replace(train, views=load_features(features_dir, "train").views)
        val = replace(val, plain=load_features(features_dir, "val").plain)
    faces = settings_config(read_settings(split))
    return TrainingData(sorted(set(train_labels)), train, val, params["seed"], faces)


def calibrated(model: keras.Model, validation: tf.data.Dataset, labels: np.ndarray) -> keras.Model:
    """The model with the temperature that minimises its NLL on the validation images."""
    before = model.predict(validation, verbose=0)
    temperature = fit_temperature(before, labels)
    after = apply_temperature(before, temperature)
    scores = ", ".join(
        f"{name} {score(before, labels):.4f} -> {score(after, labels):.4f}"
        for name, score in (("NLL", negative_log_likelihood), ("ECE", expected_calibration_error))
    )
    print(f"train: temperature {temperature:.3f} from {len(labels)} validation images: {scores}")
    return with_temperature(model, temperature)


def train_classifier(
    params: dict[str, Any],
    data: TrainingData,
    base_weights: str | Path,
    live: Live | None = None,
    resume: Resume | None = None,
) -> keras.Model:
    """The classifier the params' recipe trains on `data`, from the VGG16 base in `base_weights`:
    raw RGB in, probabilities out, class names, face settings (and temperature, and TTA) inside.
    With `live`, every epoch's metrics go to DVCLive, one curve over both phases; with `resume`, each
    online epoch is saved there and a saved one is continued (`training.resume`)."""
    train, classes, seed = params["train"], data.classes, data.seed
    seed_everything(seed)
    set_precision(params["precision"])
    size, batch, epochs = params["image_size"], params["batch_size"], params["epochs"]
    # Image datasets are lazy: nothing is decoded unless a phase uses them.
    images = image_batches(data.train.paths, data.train.labels, classes, size, batch, seed, train["mixup"])
    val_images = (
        image_batches(data.val.paths, data.val.labels, classes, size, batch, None)
        if data.val is not None
        else None
    )
    weights = class_weights(data.train.labels, classes) if train["class_weights"] else None
    trainer = Trainer(params, live, weights, resume)
    with distribution_strategy().scope():
        network = Network.build(params, base_weights, classes)
        model = network.model(faces=data.faces)
        set_trainable_blocks(network.base, None if train["trainable_base"] else 0)
        if data.online:
            trainer.fit(model, images, val_images, epochs, params["model"]["learning_rate"])
        else:
            views = EpochViews(data.train.views, one_hot(data.train.labels, classes), batch, epochs, seed)
            val = (data.val.plain, one_hot(data.val.labels, classes)) if data.val is not None else None
            trainer.fit(network.head, views, val, epochs, params["model"]["learning_rate"])
        if train["finetune_epochs"]:
            finetune(trainer, network, images, val_images)
        if data.val is not None:  # a face model's own head kept beside the photos' one, blended
            labels = one_hot(data.val.labels, classes).argmax(axis=1)
            if (kept := keep_the_face_model(network, val_images, labels)) is not network:
                network, model = kept, kept.model(faces=data.faces)
        if train["tta"]:  # the same trained layers, answering the mean over the views
            model = network.model(tta=True, faces=data.faces)
    if train["calibrate"] and data.val is not None:
        model = calibrated(model, val_images, one_hot(data.val.labels, classes).argmax(axis=1))
    return model
