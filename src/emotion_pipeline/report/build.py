"""The whole report from the pipeline's outputs: every figure, then the page that links them.

Optional inputs (validation logs, cross-validation, heatmaps, dvc.lock, skipped.csv) may be absent:
the report says so instead; the test metrics, predictions and class counts are required.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotion_pipeline.core.tables import read_json
from emotion_pipeline.report import coverage, face_census, figures, grid, inputs, page, reliability
from emotion_pipeline.serving.overlays import load_heatmaps

FIGURES = {
    "Training curves": "training_curves.png",
    "Confusion matrix": "confusion_matrix.png",
    "Test predictions": "test_predictions.png",
    "Class distribution": "class_distribution.png",
    "Reliability diagram": "reliability_diagram.png",
    "Accuracy against coverage": "accuracy_coverage.png",
}
FACE_FIGURES = {"Faces found": "faces_found.png", "Face crops": "face_crops.png"}


@dataclass(frozen=True)
class Sources:
    """Where the report's inputs are, and where it goes; the defaults are dvc.yaml's paths."""

    live_dir: str = "dvclive"
    metrics: str = "metrics/test.json"
    crossval: str = "metrics/crossval.json"
    predictions: str = "metrics/predictions.csv"
    heatmaps: str = "metrics/heatmaps.npz"
    split_dir: str = "data/split"
    model: str = "models/model.keras"
    exports: str = "models/exports"
    lock: str = "dvc.lock"
    out_dir: str = "plots"


def build_report(sources: Sources, params: dict[str, Any]) -> tuple[list[Path], bool]:
    """Every figure and report.md, under `sources.out_dir`: the files written, and whether validation
    curves were logged. FileNotFoundError names a required input that is missing."""
    metrics = read_json(sources.metrics)
    rows = inputs.read_predictions(sources.predictions)
    split = Path(sources.split_dir)
    counts = read_json(split / "counts.json")
    crossval = read_json(sources.crossval) if Path(sources.crossval).is_file() else None
    log = inputs.read_training_log(sources.live_dir)
    found = inputs.read_faces(split / "faces.csv")
    out = Path(sources.out_dir)
    paths = {caption: out / name for caption, name in FIGURES.items()}
    written = []
    if found is not None:  # face detection was on
        paths.update({caption: out / name for caption, name in FACE_FIGURES.items()})
        written += [
            face_census.plot_face_counts(found, paths["Faces found"]),
            face_census.plot_face_crops(inputs.read_split_lists(split), paths["Face crops"], Path.cwd()),
        ]
    heatmaps = load_heatmaps(sources.heatmaps)
    written += [
        figures.plot_training_curves(log, paths["Training curves"], params["train"]),
        figures.plot_confusion_matrix(metrics, paths["Confusion matrix"]),
        grid.plot_test_predictions(rows, paths["Test predictions"], root=Path.cwd(), heatmaps=heatmaps),
        figures.plot_class_distribution(counts, paths["Class distribution"]),
        reliability.plot_reliability(rows, metrics, paths["Reliability diagram"]),
        coverage.plot_accuracy_coverage(rows, paths["Accuracy against coverage"]),
        page.write_report(
            out / "report.md",
            metrics=metrics,
            crossval=crossval,
            params=params,
            counts=counts,
            skipped=inputs.read_skipped(split / "skipped.csv"),
            dvc_hash=inputs.data_hash(sources.lock, params["data"]["dir"]),
            figures=paths,
            log=log,
            faces=found,
            model_files=inputs.file_sizes(sources.model, sources.exports),
        ),
    ]
    return written, "eval" in log.get("loss", {})
