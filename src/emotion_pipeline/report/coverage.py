"""Accuracy against coverage: what a `--min-confidence` threshold buys. Raising the threshold answers
fewer test images (the rest are `uncertain`) and, with calibrated probabilities, answers them more
often right; the curve shows the trade at every threshold, so a user can pick one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import PercentFormatter

from emotion_pipeline.report.figures import BEST_COLOUR, SPLIT_COLOURS, new_figure, placeholder, save

MARKED = (0.5, 0.6, 0.7, 0.8, 0.9)  # thresholds labelled on the curve


@dataclass(frozen=True)
class Coverage:
    """One point per distinct confidence, highest first: at `threshold`, the share of images answered
    (top probability >= threshold, as `predict.labelled` decides) and the accuracy on those."""

    threshold: np.ndarray
    coverage: np.ndarray
    accuracy: np.ndarray

    def at(self, threshold: float) -> tuple[float, float] | None:
        """(coverage, accuracy) with this minimum confidence; None where it answers nothing."""
        answered = np.flatnonzero(self.threshold >= threshold)
        if not len(answered):
            return None
        last = answered[-1]
        return float(self.coverage[last]), float(self.accuracy[last])


def accuracy_coverage(confidence: Sequence[float], correct: Sequence[bool]) -> Coverage:
    """The curve over every threshold that changes the answered set: each distinct confidence."""
    confidence = np.asarray(confidence, dtype="float64")
    correct = np.asarray(correct, dtype="float64")
    order = np.argsort(-confidence, kind="stable")
    ranked, right = confidence[order], np.cumsum(correct[order])
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # the last of each tie
    answered = ends + 1
    return Coverage(ranked[ends], answered / len(ranked), right[ends] / answered)


def plot_accuracy_coverage(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Accuracy on the answered test images against the share answered, the usual thresholds marked."""
    figure = new_figure(6.6, 4.8)
    ax = figure.subplots()
    if not rows or "confidence" not in rows[0]:
        placeholder(ax, "no confidences in predictions.csv")
        return save(figure, path)
    curve = accuracy_coverage(
        [float(row["confidence"]) for row in rows], [row["actual"] == row["predicted"] for row in rows]
    )
    colour = SPLIT_COLOURS["test"]
    ax.step(curve.coverage, curve.accuracy, where="post", color=colour, linewidth=2)
    for threshold in MARKED:
        point = curve.at(threshold)
        if point is not None:
            ax.plot(*point, marker="o", color=colour)
            ax.annotate(
                f"≥ {threshold:.0%}: {point[1]:.0%} right",
                point,
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
                color=BEST_COLOUR,
            )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(max(0.0, float(curve.accuracy.min()) - 0.05), 1.02)
    ax.set_xlabel("coverage: share of test images answered (the rest `uncertain`)")
    ax.set_ylabel("accuracy on the answered")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(True, alpha=0.35)
    ax.set_title(
        f"Accuracy against coverage on the test split ({len(rows)} images), "
        "as --min-confidence P rises (marked: P = 50% ... 90%)",
        fontsize=10,
    )
    return save(figure, path)
