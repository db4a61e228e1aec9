"""`emotion export`: the Keras model as ONNX and TFLite files (`model/export.py`), float32 and, with
calibration images, int8; each then serves with `--model` without TensorFlow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = (
    "write ONNX and TFLite files of the model",
    "Write model.onnx and model.tflite (float32) into DIR and, with --calibrate, model.int8.onnx and "
    "model.int8.tflite, quantized with activation ranges measured on those images (validation "
    "images, ideally). Each serves with --model, without TensorFlow.",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-dir", type=Path, required=True, metavar="DIR", help="folder for the files")
    parser.add_argument(
        "--calibrate", nargs="+", type=Path, metavar="PATH", help="images or folders that calibrate int8"
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Export; each calibration image is framed as the model frames its inputs (its largest face, for
    a face model). One that cannot be read gets one stderr line and exit status 1; the export runs."""
    from emotion_pipeline.data.folders import expand_paths
    from emotion_pipeline.serving.commands import CommandError, load

    files, problems = expand_paths(args.calibrate or [])
    classifier = load(args.model)
    if classifier.model is None:
        raise CommandError(f"export needs the Keras model (.keras), not {args.model}")
    import numpy as np

    from emotion_pipeline.data.images import ImageError
    from emotion_pipeline.model.export import export_model

    rows = []
    for file in files:
        try:
            rows.extend(classifier.frame(file).inputs[:1])
        except ImageError as error:
            problems.append((str(file), str(error)))
    if args.calibrate and not rows:
        raise CommandError("no calibration image could be used: int8 needs at least one", status=1)
    try:
        written = export_model(classifier.model, args.out_dir, np.stack(rows) if rows else None)
    except OSError as error:
        raise CommandError(f"cannot write to {args.out_dir}: {error.strerror or error}") from None
    for path in written:
        print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")
    sys.stdout.flush()
    for path, reason in problems:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 1 if problems else 0
