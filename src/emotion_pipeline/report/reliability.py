"""The reliability diagram: is an answer given with 80% confidence right 80% of the time? One curve
for the model as trained and, when it was calibrated, one for its answers with the temperature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.ticker import PercentFormatter

from emotion_pipeline.model.calibration import BINS, reliability
from emotion_pipeline.report.figures import BEST_COLOUR, SPLIT_COLOURS, new_figure, placeholder, save

AFTER_COLOUR = SPLIT_COLOURS["train"]


def curves(rows: Sequence[Mapping[str, Any]], temperature: float) -> list[tuple[str, str, str]]:
    """(label, predictions.csv column, colour) of each curve to draw."""
    if temperature == 1.0:
        return [("not calibrated", "confidence", AFTER_COLOUR)]
    return [
        ("as trained", "confidence_uncalibrated", BEST_COLOUR),
        (f"calibrated (T = {temperature:.2f})", "confidence", AFTER_COLOUR),
    ]


def plot_reliability(rows: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Accuracy against confidence per bin (the diagonal is perfect calibration: below it the model
    is over-confident), and below it how many test images fall in each bin."""
    figure = new_figure(6.6, 6.4)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    if not rows or "confidence" not in rows[0]:
        placeholder(top, "no confidences in predictions.csv")
        bottom.axis("off")
        return save(figure, path)
    correct = [row["actual"] == row["predicted"] for row in rows]
    temperature = float(metrics.get("calibration", {}).get("temperature", 1.0))
    top.plot([0, 1], [0, 1], linestyle="--", color=BEST_COLOUR, linewidth=1, label="perfect calibration")
    for label, column, colour in curves(rows, temperature):
        bins = reliability([float(row[column]) for row in rows], correct)
        filled = bins.counts > 0
        top.plot(
            bins.confidence[filled],
            bins.accuracy[filled],
            marker="o",
            color=colour,
            linewidth=2,
            label=f"{label}: ECE {bins.ece:.3f}",
        )
        bottom.stairs(bins.counts, bins.edges, color=colour, linewidth=2, label=label)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("accuracy")
    top.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    top.grid(True, alpha=0.35)
    top.legend(loc="upper left", fontsize=9)
    top.set_title(f"Reliability on the test split ({len(rows)} images, {BINS} bins)", fontsize=12)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence of the predicted class")
    bottom.set_ylabel("images")
    bottom.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    bottom.grid(True, alpha=0.35)
    return save(figure, path)
