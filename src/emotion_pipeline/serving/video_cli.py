"""`emotion predict clip.mp4`: a row per face per sampled frame, in `emotion predict`'s formats, and
with `--out DIR` each video's rows, summary (JSON) and timeline (PNG) written there.

Imported by the command's parser, so it imports the model's side (TensorFlow) only when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotion_pipeline.serving.cli_output import FORMATS
from emotion_pipeline.serving.video import DEFAULT_FPS, VIDEO_SUFFIXES, VideoError, is_video

if TYPE_CHECKING:
    from emotion_pipeline.serving.clips import Watched
    from emotion_pipeline.serving.predict import Classifier


def frames_per_second(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1000:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1000, not {text}")
    return value


def add_video_arguments(predict: argparse.ArgumentParser) -> None:
    """`emotion predict`'s options for videos."""
    kinds = ", ".join(sorted(VIDEO_SUFFIXES))
    predict.add_argument(
        "--fps",
        type=frames_per_second,
        default=DEFAULT_FPS,
        help=f"videos ({kinds}, animated .gif): frames sampled per second (default: {DEFAULT_FPS:g})",
    )
    predict.add_argument(
        "--out", type=Path, metavar="DIR", help="videos: write each one's rows, summary and timeline PNG here"
    )


def wants_video(files: list[Path], out: Path | None) -> bool:
    """Whether `emotion predict` was given videos (or `--out`, which only videos use). Animated GIFs
    are videos only where nothing else was given: among still images a GIF is read as an image (its
    first frame), as training reads it."""
    return (
        out is not None
        or any(path.suffix.lower() in VIDEO_SUFFIXES for path in files)
        or (bool(files) and all(map(is_video, files)))
    )


def predict_videos(
    files: list[Path],
    problems: list[tuple[str, str]],
    args: argparse.Namespace,
    load: Callable[[Path], Classifier],
) -> int:
    """Print every video's rows in `args.format`; a bad video, or one of `problems`, gets one stderr
    line and exit status 1, the rest still run. Images among them, or `--out` without videos, are
    refused (status 2) before the model loads: their rows would need other columns."""
    if not all(map(is_video, files)):
        what = (
            "images and videos: give one kind at a time" if args.out is None else "--out is for videos only"
        )
        print(f"error: {what}", file=sys.stderr)
        return 2
    classifier = load(args.model)
    from emotion_pipeline.serving.clips import COLUMNS, VIDEO_BATCH, video_rows, watch
    from emotion_pipeline.serving.overlays import output_paths

    classes = classifier.classes
    columns = [*COLUMNS, *classes]
    rows: list[dict[str, Any]] = []
    stems = output_paths(files, args.out, tag="", extension="") if args.out else [None] * len(files)
    for path, stem in zip(files, stems, strict=True):
        try:
            watched = watch(classifier, path, args.fps, batch_size=min(args.batch_size, VIDEO_BATCH))
        except VideoError as error:
            problems.append((str(path), str(error)))
            continue
        found = video_rows(classes, str(path), watched)
        rows.extend(found)
        if stem is not None:
            write_outputs(classes, watched, found, stem, "json" if args.format == "json" else "csv")
    FORMATS[args.format](rows, columns, classes)
    sys.stdout.flush()
    for path, reason in problems:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 1 if problems else 0


def write_outputs(
    classes: list[str], watched: Watched, rows: list[dict[str, Any]], stem: Path, output: str
) -> list[Path]:
    """STEM_rows.csv (or .json), STEM_summary.json and STEM_timeline.png."""
    from emotion_pipeline.core.tables import write_json
    from emotion_pipeline.serving.clips import COLUMNS
    from emotion_pipeline.serving.timeline import draw_timeline, summary

    stem.parent.mkdir(parents=True, exist_ok=True)
    table = stem.with_name(f"{stem.name}_rows.{output}")
    with open(table, "w", encoding="utf-8", newline="") as file, redirect_stdout(file):
        FORMATS[output](rows, [*COLUMNS, *classes], classes)
    return [
        table,
        write_json(stem.with_name(f"{stem.name}_summary.json"), summary(classes, watched)),
        draw_timeline(classes, watched, stem.with_name(f"{stem.name}_timeline.png")),
    ]
