"""How `emotion predict` prints its answers: a row per image, or per face from a face model, as an
aligned table, CSV or JSON; `uncertain` where the model is less sure than asked."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emotion_pipeline.data.faces import NO_FACE
from emotion_pipeline.serving.confidence import probability

if TYPE_CHECKING:
    from emotion_pipeline.serving.predict import Classifier, ImageAnswer


def rows_of(classifier: Classifier, answer: ImageAnswer, min_confidence: float = 0.0) -> list[dict[str, Any]]:
    """An image's output rows: one per face where the model looks for faces (`no face found` where
    there is none), else one for the image; labels below `min_confidence` are `uncertain`."""
    from emotion_pipeline.serving.predict import labelled

    image = {"label": None, "probabilities": None}
    if answer.probabilities is not None:
        image = labelled(classifier.classes, answer.probabilities, min_confidence)
    if classifier.faces is None:
        return [{"path": answer.path, **image}]
    if not answer.faces:
        return [{"path": answer.path, "face": None, "box": None, **image, "note": NO_FACE}]
    return [
        {
            "path": answer.path,
            "face": index,
            "box": list(face.box),
            **labelled(classifier.classes, face.probabilities, min_confidence),
        }
        for index, face in enumerate(answer.faces, 1)
    ]


def cell(row: dict[str, Any], name: str, missing: str) -> str:
    """One of a row's leading cells; a box as x0,y0,x1,y1, or the row's note where there is none."""
    value = row[name]
    if name == "box":
        return ",".join(map(str, value)) if value else row["note"]
    return missing if value is None else str(value)


def cells(row: dict[str, Any], columns: list[str], classes: list[str], exact: bool) -> list[str]:
    """A row as text: probabilities exact (CSV) or to 4 places (table); `-` (table) or nothing (CSV)
    where there is no value."""
    missing = "" if exact else "-"
    probabilities = row["probabilities"] or {}
    numbers = [probabilities.get(name) for name in classes]
    return [cell(row, name, missing) for name in columns[: len(columns) - len(classes)]] + [
        missing if p is None else str(p) if exact else f"{p:.4f}" for p in numbers
    ]


def print_table(rows: list[dict[str, Any]], columns: list[str], classes: list[str]) -> None:
    lines = [columns, *(cells(row, columns, classes, exact=False) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    left = len(columns) - len(classes)
    for line in lines:
        text = [cell.ljust(width) for cell, width in zip(line[:left], widths, strict=False)]
        text += [cell.rjust(width) for cell, width in zip(line[left:], widths[left:], strict=True)]
        print("  ".join(text).rstrip())


def print_csv(rows: list[dict[str, Any]], columns: list[str], classes: list[str]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(cells(row, columns, classes, exact=True) for row in rows)


def print_json(rows: list[dict[str, Any]], columns: list[str], classes: list[str]) -> None:
    print(json.dumps(rows, indent=2))


FORMATS: dict[str, Callable[[list[dict[str, Any]], list[str], list[str]], None]] = {
    "table": print_table,
    "csv": print_csv,
    "json": print_json,
}

UNCALIBRATED = (
    "its probabilities (train.calibrate: false) overstate how often it is right, "
    "so --min-confidence holds back fewer answers than it should"
)


def output_arguments(parser: argparse.ArgumentParser) -> None:
    """`emotion predict`'s options for what it prints."""
    parser.add_argument("--format", choices=sorted(FORMATS), default="table", help="output format")
    parser.add_argument(
        "--min-confidence",
        type=probability,
        default=0.0,
        metavar="P",
        help="label `uncertain` where the top probability is below P, still printing the probabilities "
        "(the report's accuracy-coverage plot helps pick P; default: 0, always answer)",
    )


def positive_int(text: str) -> int:
    """An argparse type: a count of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
