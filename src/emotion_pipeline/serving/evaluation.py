"""The saved classifier on the test split, through the same loader as serving (a face model finds and
crops the faces of the original test images itself, with its own settings): its scores, how well its
confidence matches its accuracy, with and without its temperature, and each test image's Grad-CAM
heatmap for the report, from the same pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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

PREDICTION_COLUMNS = ("path", "actual", "predicted", "confidence", "confidence_uncalibrated")


class Unscored(RuntimeError):
    """Test images the classifier gave no answer for: (path, reason) each."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(f"{len(errors)} test image(s) unscored")
        self.errors = errors


@dataclass(frozen=True)
class Evaluation:
    """The test split's metrics, each image's prediction row, and its heatmap."""

    metrics: dict[str, Any]
    rows: list[tuple[Any, ...]]
    paths: list[str]
    heatmaps: list[np.ndarray]

    def write(self, metrics: str | Path, predictions: str | Path, heatmaps: str | Path) -> None:
        write_json(metrics, self.metrics)
        write_table(predictions, table(self.rows, PREDICTION_COLUMNS))
        save_heatmaps(heatmaps, self.paths, self.heatmaps)

    def __str__(self) -> str:
        m = self.metrics
        return (
            f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
            f"ECE {m['calibration']['ece']['after']:.3f} on {len(self.paths)} images"
        )


def evaluate_test(model: str | Path, split_dir: str | Path, batch_size: int) -> Evaluation:
    """The classifier in `model` on the test split listed in `split_dir`; `Unscored` if any image
    cannot be scored (no face: impossible unless serving frames otherwise than the faces stage did)."""
    classifier = Classifier(model)
    paths, labels = read_split(f"{split_dir}/test.csv")
    sources = read_sources(f"{split_dir}/test.csv")
    gradcam = GradCam(classifier.model)  # the report's heatmaps, from the pixels predicted on
    progress = Progress("evaluate: test", len(paths))
    result = classifier.predict_files(sources, batch_size, progress, gradcam)
    errors = result.errors + [(image.path, NO_FACE) for image in result.images if image.probabilities is None]
    if errors:
        raise Unscored(errors)
    probabilities = np.stack(result.probabilities)
    metrics = classification_metrics(labels, probabilities, classifier.classes)
    metrics["precision"] = classifier.precision  # what `precision: auto` became when training ran
    temperature = temperature_of(classifier.model)
    before = apply_temperature(probabilities, 1 / temperature)  # undone: the model as trained
    truth = np.array([classifier.classes.index(label) for label in labels])
    metrics["calibration"] = calibration_metrics(before, probabilities, truth, temperature)
    predicted = [classifier.classes[i] for i in probabilities.argmax(axis=1)]
    rows = list(zip(paths, labels, predicted, probabilities.max(axis=1), before.max(axis=1), strict=True))
    return Evaluation(metrics, rows, paths, result.heatmaps)
