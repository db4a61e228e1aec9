"""Stage report: draw the training curves, confusion matrix, test predictions (with the model's
heatmaps), class distribution, reliability diagram and accuracy against coverage (and, with face
detection, the faces found and their crops), and write a one-page Markdown report that links them.

Optional inputs (validation logs, cross-validation, heatmaps, dvc.lock, skipped.csv) may be absent:
the report says so instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--live-dir", default="dvclive")
    parser.add_argument("--metrics", default="metrics/test.json")
    parser.add_argument("--crossval", default="metrics/crossval.json")
    parser.add_argument("--predictions", default="metrics/predictions.csv")
    parser.add_argument("--heatmaps", default="metrics/heatmaps.npz")
    parser.add_argument("--split-dir", default="data/split")
    parser.add_argument("--lock", default="dvc.lock")
    parser.add_argument("--out-dir", default="plots")
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    try:
        metrics = read_json(args.metrics)
        rows = inputs.read_predictions(args.predictions)
        counts = read_json(Path(args.split_dir) / "counts.json")
    except FileNotFoundError as error:
        print(f"error: required input missing: {error.filename}", file=sys.stderr)
        return 1
    crossval = read_json(args.crossval) if Path(args.crossval).is_file() else None
    log = inputs.read_training_log(args.live_dir)

    found = inputs.read_faces(Path(args.split_dir) / "faces.csv")
    out = Path(args.out_dir)
    paths = {caption: out / name for caption, name in FIGURES.items()}
    written = []
    if found is not None:  # face detection was on
        paths.update({caption: out / name for caption, name in FACE_FIGURES.items()})
        written += [
            face_census.plot_face_counts(found, paths["Faces found"]),
            face_census.plot_face_crops(
                inputs.read_split_lists(args.split_dir), paths["Face crops"], Path.cwd()
            ),
        ]
    written += [
        figures.plot_training_curves(log, paths["Training curves"]),
        figures.plot_confusion_matrix(metrics, paths["Confusion matrix"]),
        grid.plot_test_predictions(
            rows, paths["Test predictions"], root=Path.cwd(), heatmaps=load_heatmaps(args.heatmaps)
        ),
        figures.plot_class_distribution(counts, paths["Class distribution"]),
        reliability.plot_reliability(rows, metrics, paths["Reliability diagram"]),
        coverage.plot_accuracy_coverage(rows, paths["Accuracy against coverage"]),
        page.write_report(
            out / "report.md",
            metrics=metrics,
            crossval=crossval,
            params=params,
            counts=counts,
            skipped=inputs.read_skipped(Path(args.split_dir) / "skipped.csv"),
            dvc_hash=inputs.data_hash(args.lock, params["data"]["dir"]),
            figures=paths,
            log=log,
            faces=found,
        ),
    ]
    if "eval" not in log.get("loss", {}):
        print(f"report: no validation logs under {args.live_dir}; curves show training only", file=sys.stderr)
    for path in written:
        print(f"report: wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    exit_with(main())
