"""Stage crossval: stratified k-fold over every image, so the recipe's accuracy and macro-F1 come with
a spread, not only the point estimate of one small test split.

Each fold trains a fresh head on the cached views of its training images (one view per image each
epoch, as the train stage does) and scores the held-out images as they are. With `crossval.finetune`
each fold also fine-tunes as `train.finetune_*` say, online through VGG16 (minutes at 48 px, hours
at 224), and scores the held-out images through the whole classifier. No early stopping, no
calibration. The report reads its JSON directly; `dvc metrics diff` shows it beside the test metrics.
"""

from __future__ import annotations

import argparse

import numpy as np

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import crossval_folds, stage_params
from emotion_pipeline.core.tables import write_json
from emotion_pipeline.data.splitting import SPLITS, read_split
from emotion_pipeline.training.feature_cache import load_merged

SCORES = ("accuracy", "macro_f1")


def summary(values: list[float]) -> dict[str, float | list[float]]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)), "values": values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--features-dir", action="append", required=True, help="feature caches (repeatable)")
    parser.add_argument("--split-dir", required=True, help="the image lists (for fine-tuning)")
    parser.add_argument("--base", required=True, help="VGG16 base weights (for fine-tuning)")
    parser.add_argument("--out", required=True, help="JSON with mean, std and per-fold values")
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    folds, seed = crossval_folds(params), params["seed"]
    if not folds:
        write_json(args.out, {"folds": 0})
        print("crossval: off (crossval.folds < 2)")
        return 0
    # TensorFlow only now: when the stage is off it costs no import, which every run would pay.
    from sklearn.model_selection import StratifiedKFold

    from emotion_pipeline.model.metrics import classification_metrics
    from emotion_pipeline.model.network import build_head
    from emotion_pipeline.model.runtime import seed_everything, set_precision
    from emotion_pipeline.training.pipelines import one_hot
    from emotion_pipeline.training.trainer import (
        EpochViews,
        Network,
        Trainer,
        class_weights,
        finetune,
        image_batches,
    )

    set_precision(params["precision"])
    parts = [load_merged(args.features_dir, name) for name in SPLITS]
    views = np.concatenate([part.views for part in parts])
    plain = np.concatenate([part.plain for part in parts])
    labels = np.concatenate([part.labels for part in parts])
    listed = [read_split(f"{args.split_dir}/{name}.csv") for name in SPLITS]
    paths = np.concatenate([split_paths for split_paths, _ in listed])
    if not np.array_equal(np.concatenate([split_labels for _, split_labels in listed]), labels):
        raise ValueError(f"the feature caches do not hold the images listed in {args.split_dir}")
    classes = sorted(set(labels))
    train, rate, size = params["train"], params["model"]["learning_rate"], params["image_size"]
    tuned = bool(params["crossval"]["finetune"] and train["finetune_epochs"])

    scores: dict[str, list[float]] = {name: [] for name in SCORES}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (fit_on, held_out) in enumerate(splitter.split(plain, labels), 1):
        seed_everything(seed + fold)
        # VGG16 itself only where the fold fine-tunes it; the head alone learns from the cache.
        network = Network.build(params, args.base, classes) if tuned else None
        units, dropout = params["model"]["dense_units"], params["model"]["dropout"]
        head = network.head if network else build_head(plain.shape[1:], classes, units, dropout)
        weights = class_weights(labels[fit_on], classes) if train["class_weights"] else None
        targets, epochs, batch = one_hot(labels[fit_on], classes), params["epochs"], params["batch_size"]
        trainer = Trainer(params, weights=weights)
        trainer.fit(head, EpochViews(views[fit_on], targets, batch, epochs, seed + fold), None, epochs, rate)
        if network:
            mixup = params["train"]["mixup"]
            images = image_batches(paths[fit_on], labels[fit_on], classes, size, batch, seed + fold, mixup)
            finetune(trainer, network, images)
            held = image_batches(paths[held_out], labels[held_out], classes, size, batch, None)
            probabilities = network.model().predict(held, verbose=0)
        else:
            probabilities = head.predict(plain[held_out], verbose=0)
        metrics = classification_metrics(labels[held_out], probabilities, classes)
        for name in SCORES:
            scores[name].append(metrics[name])
        scored = ", ".join(f"{name} {metrics[name]:.3f}" for name in SCORES)
        print(f"crossval: fold {fold}/{folds}: {scored}")

    result = {
        "method": f"{folds}-fold stratified",
        "folds": folds,
        **{k: summary(v) for k, v in scores.items()},
    }
    write_json(args.out, result)
    print(
        f"crossval: accuracy {result['accuracy']['mean']:.3f} ± {result['accuracy']['std']:.3f}, "
        f"macro-F1 {result['macro_f1']['mean']:.3f} ± {result['macro_f1']['std']:.3f}"
    )
    return 0


if __name__ == "__main__":
    exit_with(main())
