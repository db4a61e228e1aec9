"""Give each face in a video a number that it keeps from frame to frame, by box overlap.

Faces move little between frames sampled a fraction of a second apart, so a face's box in one frame
overlaps its box in the last frame it was seen far more than it overlaps anyone else's. Greedy
matching, best overlap first, is what SORT-style trackers do without their motion model; at a few
frames a second and a handful of faces it needs nothing more. A face unseen for longer than
`patience` seconds (it left, or turned away) is forgotten: if it comes back, it gets a new number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emotion_pipeline.data.images import Box

MIN_OVERLAP = 0.3  # intersection over union: the same face moved, not a neighbour's box
PATIENCE_SECONDS = 1.0


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 where they do not touch)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@dataclass
class _Track:
    number: int
    box: Box
    seen: float


class Tracker:
    """Numbers faces 1, 2, ... in the order they first appear, and keeps each number on its face."""

    def __init__(self, min_overlap: float = MIN_OVERLAP, patience: float = PATIENCE_SECONDS) -> None:
        self.min_overlap = min_overlap
        self.patience = patience
        self._tracks: list[_Track] = []
        self._next = 1

    def assign(self, time: float, boxes: Sequence[Box]) -> list[int]:
        """The number of each box found at `time` (seconds, increasing), in the order given."""
        self._tracks = [track for track in self._tracks if time - track.seen <= self.patience]
        pairs = sorted(
            (
                (overlap(track.box, box), -track.number, t, b)  # ties: the older track first
                for t, track in enumerate(self._tracks)
                for b, box in enumerate(boxes)
            ),
            reverse=True,
        )
        numbers: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for score, _, t, b in pairs:
            if score < self.min_overlap:
                break
            if t in used or numbers[b] is not None:
                continue
            used.add(t)
            numbers[b] = self._tracks[t].number
            self._tracks[t].box, self._tracks[t].seen = boxes[b], time
        for b, box in enumerate(boxes):
            if numbers[b] is None:
                numbers[b] = self._next
                self._tracks.append(_Track(self._next, box, time))
                self._next += 1
        return [number for number in numbers if number is not None]
