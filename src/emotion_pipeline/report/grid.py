"""The grid of test images, mistakes first: seeing the misclassified faces says more about a model's
failure than any number does."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion_pipeline.data.images import ImageError, load_image
from emotion_pipeline.report.figures import (
    BEST_COLOUR,
    CORRECT_COLOUR,
    WRONG_COLOUR,
    new_figure,
    placeholder,
    save,
)
from emotion_pipeline.serving.overlays import overlay

GRID_LIMIT = 24


@dataclass(frozen=True)
class GridItem:
    """One test image in the prediction grid, with the title and colour it is drawn with."""

    path: str
    actual: str
    predicted: str

    @property
    def correct(self) -> bool:
        return self.actual == self.predicted

    @property
    def title(self) -> str:
        return f"true: {self.actual} / pred: {self.predicted}"

    @property
    def colour(self) -> str:
        return CORRECT_COLOUR if self.correct else WRONG_COLOUR


def select_predictions(rows: Iterable[Mapping[str, str]], limit: int = GRID_LIMIT) -> list[GridItem]:
    """Errors first (by class, then path), then correct ones taking turns across classes.

    Sorting makes the choice independent of the CSV's row order, so the figure only changes when the
    predictions do; taking turns keeps every class visible when the errors do not fill the grid.
    """
    items = sorted(
        (GridItem(row["path"], row["actual"], row["predicted"]) for row in rows),
        key=lambda item: (item.actual, item.predicted, item.path),
    )
    wrong = [item for item in items if not item.correct]
    by_class: dict[str, list[GridItem]] = {}
    for item in items:
        if item.correct:
            by_class.setdefault(item.actual, []).append(item)
    right: list[GridItem] = []
    for turn in range(max((len(group) for group in by_class.values()), default=0)):
        right += [group[turn] for group in by_class.values() if turn < len(group)]
    return (wrong + right)[: max(0, limit)]


def plot_test_predictions(
    rows: Sequence[Mapping[str, str]],
    path: str | Path,
    root: str | Path = ".",
    limit: int = GRID_LIMIT,
    image_size: int = 160,
    columns: int = 6,
    heatmaps: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """A grid of test images titled with the true and predicted class, mistakes first, in red.

    Seeing the misclassified faces says more about a model's failure than any number does.
    Relative paths are resolved against `root` (the repository root, where the pipeline runs).
    With `heatmaps` (the evaluate stage's Grad-CAM maps by path), each tile shows the heatmap of the
    evidence for the predicted class over its image.
    """
    items = select_predictions(rows, limit)
    n_wrong = sum(1 for row in rows if row["actual"] != row["predicted"])
    columns = max(1, min(columns, len(items) or 1))
    n_rows = max(1, math.ceil(len(items) / columns))
    figure = new_figure(2.1 * columns + 0.2, 2.35 * n_rows + 0.6)
    axes = np.atleast_1d(figure.subplots(n_rows, columns, squeeze=False).ravel())
    for ax, item in zip(axes, items, strict=False):
        file = Path(item.path) if Path(item.path).is_absolute() else Path(root) / item.path
        try:
            picture = load_image(file, image_size)
            heatmap = (heatmaps or {}).get(item.path)
            ax.imshow(picture if heatmap is None else overlay(picture, heatmap))
        except ImageError as error:
            ax.imshow(np.full((image_size, image_size, 3), 235, dtype=np.uint8))
            message = textwrap.fill(f"cannot load: {error}", 24)
            ax.text(
                image_size / 2,
                image_size / 2,
                message,
                ha="center",
                va="center",
                fontsize=8,
                color=BEST_COLOUR,
            )
        ax.set_title(item.title, color=item.colour, fontsize=9.5, fontweight="bold", pad=4)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(item.colour)
            spine.set_linewidth(3 if not item.correct else 1.5)
    for ax in axes[len(items) :]:
        ax.axis("off")
    if not items:
        placeholder(axes[0], "no test predictions")
        axes[0].axis("on")
    shown = f"showing {len(items)} of {len(rows)}" if len(items) < len(rows) else f"all {len(rows)}"
    heat = (
        "\ncoloured where the image gave the evidence for the predicted class (Grad-CAM)" if heatmaps else ""
    )
    figure.suptitle(
        f"Test predictions: {n_wrong} wrong of {len(rows)} ({shown}, mistakes first){heat}", fontsize=13
    )
    return save(figure, path)
