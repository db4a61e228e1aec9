"""Stage report: draw the training curves, confusion matrix, test predictions (with the model's
heatmaps), class distribution, reliability diagram and accuracy against coverage (and, with face
detection, the faces found and their crops), and write a one-page Markdown report that links them,
with the sizes of the model's file and its exports (`report.build`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.report.build import Sources, build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    for field in fields(Sources):
        parser.add_argument(f"--{field.name.replace('_', '-')}", default=field.default)
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    sources = Sources(**{field.name: getattr(args, field.name) for field in fields(Sources)})
    try:
        written, validated = build_report(sources, params)
    except FileNotFoundError as error:
        print(f"error: required input missing: {error.filename}", file=sys.stderr)
        return 1
    if not validated:
        print(
            f"report: no validation logs under {sources.live_dir}; curves show training only", file=sys.stderr
        )
    for path in written:
        print(f"report: wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    exit_with(main())
