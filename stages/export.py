"""Stage export: the trained classifier as ONNX and TFLite files, float32 and int8 (calibrated on the
validation split's images, as the model saw them), for serving without TensorFlow."""

from __future__ import annotations

import argparse
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.model.export import calibration_rows, export_model
from emotion_pipeline.model.network import load_classifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--split-dir", required=True, help="the split lists; val.csv calibrates int8")
    parser.add_argument("--out-dir", required=True, help="folder for the exported files")
    args = parser.parse_args(argv)
    settings = stage_params(args.params)["export"]
    if not settings["enabled"]:  # a note, not an empty folder: DVC caches what it holds
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.out_dir) / "README.txt").write_text("No exports: export.enabled is false.\n")
        print("export: off (export.enabled=false)")
        return 0
    model, _, image_size = load_classifier(args.model)
    rows = calibration_rows(f"{args.split_dir}/val.csv", image_size, settings["calibration_images"])
    for path in export_model(model, args.out_dir, rows):
        print(f"export: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    exit_with(main())
