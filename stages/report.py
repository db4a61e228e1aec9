"""Stage report: draw the training curves, confusion matrix, test predictions and class distribution,
and write a one-page Markdown report that links them.

Optional inputs (validation logs, dvc.lock, skipped.csv) may be absent: the report says so instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emotion_pipeline import report
from emotion_pipeline.params import load_params

FIGURES = {
    "Training curves": "training_curves.png",
    "Confusion matrix": "confusion_matrix.png",
    "Test predictions": "test_predictions.png",
    "Class distribution": "class_distribution.png",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--live-dir", default="dvclive")
    parser.add_argument("--metrics", default="metrics/test.json")
    parser.add_argument("--predictions", default="metrics/predictions.csv")
    parser.add_argument("--split-dir", default="data/split")
    parser.add_argument("--lock", default="dvc.lock")
    parser.add_argument("--out-dir", default="plots")
    args = parser.parse_args(argv)
    params = load_params(args.params) or {}

    try:
        metrics = json.loads(Path(args.metrics).read_text(encoding="utf-8"))
        rows = report.read_predictions(args.predictions)
        counts = json.loads((Path(args.split_dir) / "counts.json").read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        print(f"error: required input missing: {error.filename}", file=sys.stderr)
        return 1
    skipped = report.read_skipped(Path(args.split_dir) / "skipped.csv")
    log = report.read_training_log(args.live_dir)
    data_dir = (params.get("data") or {}).get("dir")
    dvc_hash = report.data_hash(args.lock, data_dir)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {caption: out / name for caption, name in FIGURES.items()}
    written = [
        report.plot_training_curves(log, paths["Training curves"]),
        report.plot_confusion_matrix(metrics, paths["Confusion matrix"]),
        report.plot_test_predictions(rows, paths["Test predictions"], root=Path.cwd()),
        report.plot_class_distribution(counts, paths["Class distribution"]),
    ]
    written.append(
        report.write_report(
            out / "report.md",
            metrics=metrics,
            params=params,
            counts=counts,
            skipped=skipped,
            dvc_hash=dvc_hash,
            figures=paths,
            log=log,
        )
    )
    if "eval" not in log.get("loss", {}):
        print(f"report: no validation logs under {args.live_dir}; curves show training only", file=sys.stderr)
    for path in written:
        print(f"report: wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
