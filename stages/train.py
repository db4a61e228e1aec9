"""Stage train: the report's head on the frozen VGG16 (from cached features, or online), then
optional fine-tuning and calibration; saves one classifier that takes raw RGB and holds its class
names, its temperature, and the face settings its images were cropped with."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from dvclive import Live

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params, trains_online
from emotion_pipeline.core.tables import replacing
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
from emotion_pipeline.training.feature_cache import load_features
from emotion_pipeline.training.pipelines import one_hot
from emotion_pipeline.training.trainer import (
    EpochViews,
    Network,
    Trainer,
    class_weights,
    finetune,
    image_batches,
    set_trainable_blocks,
)

if TYPE_CHECKING:  # TensorFlow loads through the package, after it has set TensorFlow's log level
    import keras
    import tensorflow as tf


def cached(
    features_dir: str, classes: list[str], batch: int, epochs: int, seed: int
) -> tuple[EpochViews, tuple[np.ndarray, np.ndarray]]:
    """From the feature stage: the training images' cached views, one per image each epoch, and
    the validation images as they are (features, one-hot)."""
    train, val = (load_features(features_dir, split) for split in ("train", "val"))
    views = EpochViews(train.views, one_hot(train.labels, classes), batch, epochs, seed)
    return views, (val.plain, one_hot(val.labels, classes))


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--features-dir", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--live-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    params = stage_params(args.params)
    train, model_params, size, seed = params["train"], params["model"], params["image_size"], params["seed"]

    seed_everything(seed)
    policy = set_precision(params["precision"])
    split = Path(args.split_dir)
    train_paths, train_labels = read_split(split / "train.csv")
    val_paths, val_labels = read_split(split / "val.csv")
    classes = sorted(set(train_labels))
    weights = class_weights(train_labels, classes) if train["class_weights"] else None
    online = trains_online(params)
    print(
        f"train: {len(train_paths)} images, classes {classes}, {policy}, {'online' if online else 'cached'}"
    )

    batch = params["batch_size"]  # image datasets are lazy: nothing is decoded unless a phase uses them
    online_data = (
        image_batches(train_paths, train_labels, classes, size, batch, seed, params["train"]["mixup"]),
        image_batches(val_paths, val_labels, classes, size, batch, None),
    )
    live = Live(args.live_dir, dvcyaml=False, save_dvc_exp=False)
    trainer = Trainer(params, live, weights)
    with distribution_strategy().scope():
        network = Network.build(params, args.base, classes)
        faces = settings_config(read_settings(split))
        model = network.model(faces=faces)
        set_trainable_blocks(network.base, None if train["trainable_base"] else 0)
        epochs = params["epochs"]
        data = online_data if online else cached(args.features_dir, classes, batch, epochs, seed)
        trainer.fit(model if online else network.head, *data, epochs, model_params["learning_rate"])
        if train["finetune_epochs"]:
            print(f"train: fine-tuning the last {train['finetune_blocks']} VGG16 block(s)")
            finetune(trainer, network, *online_data)
        if params["train"]["tta"]:  # the same trained layers, answering the mean over the views
            model = network.model(tta=True, faces=faces)
    if train["calibrate"]:
        model = calibrated(model, online_data[1], one_hot(val_labels, classes).argmax(axis=1))
    with replacing(args.out) as tmp:
        model.save(tmp)
    live.end()
    print(f"train: saved {args.out}")
    return 0


if __name__ == "__main__":
    exit_with(main())
