"""What face detection found: how many images had no face, one or several, per class, and a grid of the
crops the model was trained and tested on. A class that loses most of its images to `no face found`
(silhouettes, clip-art, heads down) trains on little, or on whole images; this shows which."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emotion_pipeline.data.images import ImageError, load_image
from emotion_pipeline.report.figures import new_figure, placeholder, save

FOUND = ("no face", "one face", "several faces")
FOUND_COLOURS = ("#8c959f", "#1f77b4", "#ff7f0e")
CROPS_SHOWN = 24


def face_counts(faces: pd.DataFrame) -> pd.DataFrame:
    """Images per class (rows) with no face, one face or several (columns), from faces.csv."""
    per_image = faces.drop_duplicates("path").astype({"faces": int})
    found = pd.Categorical(np.minimum(per_image["faces"], 2).map(dict(enumerate(FOUND))), categories=FOUND)
    return pd.crosstab(per_image["label"], found, dropna=False).reindex(columns=list(FOUND), fill_value=0)


def plot_face_counts(faces: pd.DataFrame, path: str | Path) -> Path:
    """A stacked bar per class: images with no face, one face, several faces."""
    counts = face_counts(faces)
    figure = new_figure(min(12.0, max(6.5, 1.5 * len(counts) + 2.5)), 4.4)
    ax = figure.subplots()
    bottom = np.zeros(len(counts))
    for name, colour in zip(FOUND, FOUND_COLOURS, strict=True):
        bars = ax.bar(counts.index, counts[name], 0.6, bottom=bottom, color=colour, label=name)
        ax.bar_label(
            bars, labels=[str(v) if v else "" for v in counts[name]], label_type="center", fontsize=9
        )
        bottom += counts[name].to_numpy()
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.legend(fontsize=9)
    ax.grid(True, axis="y", alpha=0.35)
    ax.set_axisbelow(True)
    none, one, several = counts.to_numpy().sum(axis=0)
    ax.set_title(f"Faces found: {none} images with none, {one} with one, {several} with several", fontsize=12)
    return save(figure, path)


def select_crops(rows: Sequence[Mapping[str, str]], limit: int = CROPS_SHOWN) -> list[Mapping[str, str]]:
    """Crops (rows whose path is not their source), classes taking turns, each class in path order."""
    by_class: dict[str, list[Mapping[str, str]]] = {}
    for row in sorted(rows, key=lambda row: (row["label"], row["path"])):
        if row["path"] != row["source"]:
            by_class.setdefault(row["label"], []).append(row)
    turns = max((len(group) for group in by_class.values()), default=0)
    return [group[turn] for turn in range(turns) for group in by_class.values() if turn < len(group)][:limit]


def plot_face_crops(
    rows: Sequence[Mapping[str, str]], path: str | Path, root: str | Path = ".", columns: int = 8
) -> Path:
    """A grid of the face crops the model learns from, titled with their class."""
    chosen = select_crops(rows)
    columns = max(1, min(columns, len(chosen) or 1))
    n_rows = max(1, math.ceil(len(chosen) / columns))
    figure = new_figure(1.6 * columns + 0.2, 1.8 * n_rows + 0.6)
    axes = np.atleast_1d(figure.subplots(n_rows, columns, squeeze=False).ravel())
    for ax, row in zip(axes, chosen, strict=False):
        file = Path(row["path"])
        try:
            ax.imshow(load_image(file if file.is_absolute() else Path(root) / file, 96))
        except ImageError as error:
            placeholder(ax, f"cannot load: {error}")
        ax.set_title(row["label"], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(chosen) :]:
        ax.axis("off")
    if not chosen:
        placeholder(axes[0], "no face crops")
        axes[0].axis("on")
    n_crops = sum(1 for row in rows if row["path"] != row["source"])
    figure.suptitle(f"Face crops ({len(chosen)} of {n_crops}, classes taking turns)", fontsize=12)
    return save(figure, path)
