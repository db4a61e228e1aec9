"""Stage evaluate: the saved classifier on the test split, through the same loader as serving."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from emotion_pipeline.metrics import classification_metrics
from emotion_pipeline.params import load_params, write_atomic, write_json
from emotion_pipeline.predict import Classifier, stderr_progress
from emotion_pipeline.splitting import read_split, to_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--metrics", required=True, help="metrics JSON to write")
    parser.add_argument("--predictions", required=True, help="CSV of actual,predicted to write")
    parser.add_argument("--crossval", help="the crossval stage's JSON, reported beside the test split")
    args = parser.parse_args(argv)
    params = load_params(args.params)

    classifier = Classifier(args.model)
    paths, labels = read_split(Path(args.split_dir) / "test.csv")
    result = classifier.predict_files(paths, params["batch_size"], stderr_progress("evaluate: test"))
    if result.errors:
        for path, reason in result.errors:
            print(f"error: {path}: {reason}", file=sys.stderr)
        return 1
    probabilities = np.stack(result.probabilities)
    metrics = classification_metrics(labels, probabilities, classifier.classes)
    repeated = json.loads(Path(args.crossval).read_text()) if args.crossval else {}
    if repeated.get("folds"):
        metrics["repeated"] = repeated
    write_json(args.metrics, metrics)
    predicted = [classifier.classes[i] for i in probabilities.argmax(axis=1)]
    write_atomic(
        args.predictions,
        to_csv(list(zip(paths, labels, predicted, strict=True)), ("path", "actual", "predicted")),
    )
    print(
        f"evaluate: accuracy {metrics['accuracy']:.3f}, "
        f"macro-F1 {metrics['macro_f1']:.3f} on {len(paths)} images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
