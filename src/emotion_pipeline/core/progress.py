"""One progress line for every long loop (checking files, extracting features, predicting)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints `label done/total unit (rate unit/s)` on stderr as work advances.

    On a terminal the line is rewritten in place; in a log (DVC, CI) a new line is written at most
    every `interval` seconds, so a long run shows it is alive without flooding the log. The last
    count is always printed, on its own line.
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "images",
        interval: float = 5.0,
        stream: TextIO | None = None,
    ) -> None:
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = self.shown = time.perf_counter()
        self.live = self.stream.isatty()

    @property
    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        finished = self.done >= self.total
        if not (finished or self.live or now - self.shown >= self.interval):
            return
        self.shown = now
        line = f"{self.label} {self.done}/{self.total} {self.unit} ({self.rate:.1f} {self.unit}/s)"
        print(line, end="\n" if finished or not self.live else "\r", file=self.stream, flush=True)
