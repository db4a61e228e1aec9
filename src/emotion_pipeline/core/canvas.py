"""Figures on the Agg canvas through matplotlib's object API (never pyplot): no global state, headless,
safe from a server's threads. The report's figures and the CLI's video timelines are drawn on it, so
both come out at one resolution and save the same way."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from emotion_pipeline.core.tables import replacing

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Figure, path: str | Path | IO[bytes]) -> Path | IO[bytes]:
    """Save as PNG (to a file, or a buffer: a server's answer) without the matplotlib version in the
    metadata, so equal figures are equal bytes."""
    options = {
        "format": "png",
        "dpi": DPI,
        "facecolor": "white",
        "bbox_inches": "tight",
        "pad_inches": 0.15,
        "metadata": {"Software": None},
        "pil_kwargs": {"compress_level": 1},  # level 6 took 0.6 s for the test grid; files 17% larger
    }
    if not isinstance(path, str | Path):
        figure.savefig(path, **options)
        return path
    with replacing(path) as tmp:  # an interrupted stage never leaves half a PNG in its place
        figure.savefig(tmp, **options)
    return Path(path)
