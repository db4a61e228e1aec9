"""Stratified k-fold cross-validation of the recipe over every image: each fold trains with the same
call as the train stage (`fit.train_classifier`) and scores the images it held out.

A fold's head learns from the cached views of its training images and scores the held-out images'
cached features; with `crossval.finetune` it also fine-tunes as `train.finetune_*` say, online
through VGG16, and scores the held-out images through the whole classifier. Folds have no
validation images: no early stopping, no calibration, and no test-time views.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotion_pipeline.data.splitting import SPLITS, read_split
from emotion_pipeline.model.metrics import classification_metrics
from emotion_pipeline.training.batches import image_batches
from emotion_pipeline.training.feature_cache import load_merged
from emotion_pipeline.training.fit import Examples, TrainingData, train_classifier

SCORES = ("accuracy", "macro_f1")


def pooled_examples(features_dirs: Sequence[str | Path], split_dir: str | Path) -> Examples:
    """Every image of every split, with its cached views and plain features (from any of the caches),
    in the order the split lists give; refused where the caches hold other images than the lists."""
    parts = [load_merged(features_dirs, name) for name in SPLITS]
    listed = [read_split(Path(split_dir) / f"{name}.csv") for name in SPLITS]
    labels = np.concatenate([part.labels for part in parts])
    if not np.array_equal(np.concatenate([split_labels for _, split_labels in listed]), labels):
        raise ValueError(f"the feature caches do not hold the images listed in {split_dir}")
    return Examples.of(
        np.concatenate([split_paths for split_paths, _ in listed]),
        labels,
        views=np.concatenate([part.views for part in parts]),
        plain=np.concatenate([part.plain for part in parts]),
    )


def fold_params(params: dict[str, Any]) -> dict[str, Any]:
    """The recipe as a fold runs it: fine-tuning only with `crossval.finetune`, and neither
    calibration nor test-time views (a fold has no validation images, and scores cached features)."""
    fold = copy.deepcopy(params)
    fold["train"].update(calibrate=False, tta=False)
    if not params["crossval"]["finetune"]:
        fold["train"]["finetune_epochs"] = 0
    return fold


def summary(values: list[float]) -> dict[str, float | list[float]]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)), "values": values}


def cross_validate(params: dict[str, Any], examples: Examples, base_weights: str | Path) -> dict[str, Any]:
    """`crossval.folds` folds of the recipe over `examples`: each fold's scores printed, and the
    mean, standard deviation and per-fold values of each score."""
    from sklearn.model_selection import StratifiedKFold

    folds, seed = int(params["crossval"]["folds"]), params["seed"]
    fold = fold_params(params)
    tuned = bool(fold["train"]["finetune_epochs"])
    classes = sorted(set(examples.labels))
    scores: dict[str, list[float]] = {name: [] for name in SCORES}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for index, (fit_on, held_out) in enumerate(splitter.split(examples.plain, examples.labels), 1):
        data = TrainingData(classes, examples.subset(fit_on), None, seed + index)
        model = train_classifier(fold, data, base_weights)
        held = examples.subset(held_out)
        if tuned:  # VGG16 changed: the held-out images go through the whole classifier
            images = image_batches(
                held.paths, held.labels, classes, params["image_size"], params["batch_size"], None
            )
            probabilities = model.predict(images, verbose=0)
        else:  # VGG16 as cached: the head alone scores the held-out images' features
            probabilities = model.get_layer("head").predict(held.plain, verbose=0)
        metrics = classification_metrics(held.labels, probabilities, classes)
        for name in SCORES:
            scores[name].append(metrics[name])
        print(f"crossval: fold {index}/{folds}: {', '.join(f'{n} {metrics[n]:.3f}' for n in SCORES)}")
    return {
        "method": f"{folds}-fold stratified",
        "folds": folds,
        **{k: summary(v) for k, v in scores.items()},
    }
