"""Stage crossval: stratified k-fold over every image, so the head recipe's accuracy and macro-F1
come with a spread, not only the point estimate of one small test split.

Each fold trains a fresh head on the cached views of its training images and scores the held-out
images as they are. It scores the cached-head recipe (no fine-tuning, no early stopping).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from emotion_pipeline.metrics import classification_metrics
from emotion_pipeline.params import load_params, trains_online, write_json
from emotion_pipeline.splitting import SPLITS


def summary(values: list[float]) -> dict[str, float | list[float]]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)), "values": values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--features-dir", required=True)
    parser.add_argument("--out", required=True, help="JSON with mean, std and per-fold values")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    folds, seed, model_params = int(params["crossval"]["folds"]), params["seed"], params["model"]

    if folds < 2 or trains_online(params["train"]):
        write_json(args.out, {"folds": 0})
        print("crossval: off (crossval.folds < 2, or training runs online)")
        return 0
    # TensorFlow only now: when the stage is off it costs no import, which every run would pay.
    from emotion_pipeline.data import one_hot
    from emotion_pipeline.model import build_head, seed_everything, set_precision
    from emotion_pipeline.training import class_weights, compile_model, fit, view_rows

    set_precision(params["precision"])
    loaded = [np.load(Path(args.features_dir) / f"{name}.npz") for name in SPLITS]
    views = np.concatenate([data["views"] for data in loaded])
    plain = np.concatenate([data["plain"] for data in loaded])
    labels = np.concatenate([data["labels"] for data in loaded])
    classes = sorted(set(labels))

    scores: dict[str, list[float]] = {"accuracy": [], "macro_f1": []}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (train, held_out) in enumerate(splitter.split(plain, labels), 1):
        seed_everything(seed + fold)
        rows, row_labels = view_rows(views[train], labels[train])
        head = build_head(plain.shape[1:], classes, model_params["dense_units"], model_params["dropout"])
        compile_model(head, model_params["learning_rate"], params["train"]["label_smoothing"])
        weights = class_weights(row_labels, classes) if params["train"]["class_weights"] else None
        fit(head, (rows, one_hot(row_labels, classes)), None, params["epochs"], params, None, weights)
        metrics = classification_metrics(labels[held_out], head.predict(plain[held_out], verbose=0), classes)
        for name in scores:
            scores[name].append(metrics[name])
        print(
            f"crossval: fold {fold}/{folds} "
            f"accuracy {metrics['accuracy']:.3f} macro-F1 {metrics['macro_f1']:.3f}"
        )

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
    sys.exit(main())
