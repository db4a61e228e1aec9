"""A video's emotions per face: the share of time in each (the summary), and a timeline picture.

A sampled frame stands for 1/fps seconds, so a face's share of time in an emotion is the share of its
sampled frames that the emotion tops. The picture has one panel per face (the longest-seen first, at
most MAX_PANELS): each class's probability against time, and under the lines a band coloured by the
emotion on top at each moment. Gaps (the face left, or was not found) stay empty, never joined up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_rgba

from emotion_pipeline.core.canvas import new_figure, save
from emotion_pipeline.serving.clips import Watched

MAX_PANELS = 6
GAP = 1.5  # samples further apart than this many steps: the face was away in between
BAND = 0.08  # the dominant-emotion band's height, in probability units, below zero
PALETTE = ("#cf222e", "#1a7f37", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def summary(classes: list[str], watched: Watched) -> dict[str, Any]:
    """Per face: when it was seen, for how long, its top emotion overall, and its share of time in each."""
    faces = []
    for number in watched.faces:
        seen = [s for s in watched.sightings if s.face == number and s.probabilities is not None]
        tops = np.bincount([int(np.argmax(s.probabilities)) for s in seen], minlength=len(classes))
        share = tops / max(1, len(seen))
        faces.append(
            {
                "face": number,
                "first": round(seen[0].time, 3),
                "last": round(seen[-1].time, 3),
                "seconds": round(len(seen) / watched.fps, 3),
                "label": classes[int(np.argmax(tops))],
                "share": {name: round(float(value), 4) for name, value in zip(classes, share, strict=True)},
            }
        )
    without = sum(1 for s in watched.sightings if s.face is None)
    return {"fps": watched.fps, "frames": watched.frames, "frames_without_face": without, "faces": faces}


def colours(classes: list[str]) -> dict[str, str]:
    """One colour per class, in the model's class order."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(classes)}


def draw_timeline(classes: list[str], watched: Watched, path: str | Path) -> Path:
    """The timeline PNG: a panel per face (see the module's docstring)."""
    by_face = {
        n: [s for s in watched.sightings if s.face == n and s.probabilities is not None]
        for n in watched.faces
    }
    shown = sorted(by_face, key=lambda n: (-len(by_face[n]), n))[:MAX_PANELS]
    figure = new_figure(9.0, 0.6 + 2.1 * max(1, len(shown)))
    axes = figure.subplots(max(1, len(shown)), 1, sharex=True, squeeze=False)[:, 0]
    if not shown:
        axes[0].text(0.5, 0.5, f"no face found in {watched.frames} sampled frames", ha="center", va="center")
        axes[0].set_axis_off()
        return save(figure, path)
    palette = colours(classes)
    step = 1 / watched.fps
    for ax, number in zip(axes, sorted(shown), strict=True):
        seen = by_face[number]
        times = np.array([s.time for s in seen])
        probabilities = np.stack([s.probabilities for s in seen])
        # A gap longer than GAP steps breaks each line: NaN rows between the runs.
        breaks = np.flatnonzero(np.diff(times) > GAP * step) + 1
        times_gapped = np.insert(times, breaks, np.nan)
        values = np.insert(probabilities, breaks, np.nan, axis=0)
        for index, name in enumerate(classes):
            ax.plot(times_gapped, values[:, index], color=palette[name], linewidth=1.6, label=name)
        # The band: each sample's top emotion from its time until the next sample, or a gap.
        following = np.append(times[1:], np.inf)
        ends = np.where(following - times > GAP * step, times + step, following)
        for t, end, row in zip(times, ends, probabilities, strict=True):
            colour = to_rgba(palette[classes[int(np.argmax(row))]], 0.85)
            ax.axvspan(t, end, ymin=0, ymax=BAND / (1 + BAND), linewidth=0, color=colour)
        ax.set_ylim(-BAND, 1.0)
        ax.set_yticks([0, 0.5, 1])
        ax.set_ylabel("probability")
        ax.set_title(f"face {number}", loc="left", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper right", ncols=min(len(classes), 7), fontsize=8, frameon=False)
    axes[len(shown) - 1].set_xlabel("time (s)")
    axes[0].set_xlim(0, max(s.time for s in watched.sightings) + step)
    return save(figure, path)
