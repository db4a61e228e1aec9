"""Stage evaluate: the saved classifier on the test split, through the same loader as serving (a
face model finds and crops the faces of the original test images itself, with its own settings),
how well its confidence matches its accuracy, with and without its temperature, and each test
image's Grad-CAM heatmap for the report, from the same pass."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.core.progress import Progress
from emotion_pipeline.core.tables import table, write_json, write_table
from emotion_pipeline.data.faces import NO_FACE
from emotion_pipeline.data.splitting import read_sources, read_split
from emotion_pipeline.model.calibration import apply_temperature, calibration_metrics
from emotion_pipeline.model.metrics import classification_metrics
from emotion_pipeline.model.network import temperature_of
from emotion_pipeline.serving.explain import GradCam
from emotion_pipeline.serving.overlays import save_heatmaps
from emotion_pipeline.serving.predict import Classifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--metrics", required=True, help="metrics JSON to write")
    parser.add_argument("--predictions", required=True, help="CSV of actual, predicted, confidences to write")
    parser.add_argument("--heatmaps", required=True, help="each test image's Grad-CAM map (.npz) to write")
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    classifier = Classifier(args.model)
    paths, labels = read_split(f"{args.split_dir}/test.csv")
    sources = read_sources(f"{args.split_dir}/test.csv")
    gradcam = GradCam(classifier.model)  # the report's heatmaps, from the pixels predicted on
    progress = Progress("evaluate: test", len(paths))
    result = classifier.predict_files(sources, params["batch_size"], progress, gradcam)
    # No face: impossible unless serving frames otherwise than the faces stage did, with the same settings.
    errors = result.errors + [(image.path, NO_FACE) for image in result.images if image.probabilities is None]
    if errors:
        for path, reason in errors:
            print(f"error: {path}: {reason}", file=sys.stderr)
        return 1
    probabilities = np.stack(result.probabilities)
    metrics = classification_metrics(labels, probabilities, classifier.classes)
    metrics["precision"] = classifier.precision  # what `precision: auto` became when training ran
    temperature = temperature_of(classifier.model)
    before = apply_temperature(probabilities, 1 / temperature)  # undone: the model as trained
    truth = np.array([classifier.classes.index(label) for label in labels])
    metrics["calibration"] = calibration_metrics(before, probabilities, truth, temperature)
    write_json(args.metrics, metrics)
    predicted = [classifier.classes[i] for i in probabilities.argmax(axis=1)]
    rows = zip(paths, labels, predicted, probabilities.max(axis=1), before.max(axis=1), strict=True)
    write_table(
        args.predictions,
        table(rows, ("path", "actual", "predicted", "confidence", "confidence_uncalibrated")),
    )
    save_heatmaps(args.heatmaps, paths, result.heatmaps)
    print(
        f"evaluate: accuracy {metrics['accuracy']:.3f}, "
        f"macro-F1 {metrics['macro_f1']:.3f}, ECE {metrics['calibration']['ece']['after']:.3f} "
        f"on {len(paths)} images"
    )
    return 0


if __name__ == "__main__":
    exit_with(main())
