"""Stage evaluate: the saved classifier on the test split, as serving runs it: metrics, calibration,
each image's prediction and its Grad-CAM heatmap for the report (`serving.evaluation`)."""

from __future__ import annotations

import argparse
import sys

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.serving.evaluation import Unscored, evaluate_test


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

    try:
        evaluation = evaluate_test(args.model, args.split_dir, params["batch_size"])
    except Unscored as unscored:
        for path, reason in unscored.errors:
            print(f"error: {path}: {reason}", file=sys.stderr)
        return 1
    evaluation.write(args.metrics, args.predictions, args.heatmaps)
    print(f"evaluate: {evaluation}")
    return 0


if __name__ == "__main__":
    exit_with(main())
