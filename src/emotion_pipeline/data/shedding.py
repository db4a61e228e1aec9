"""Load shedding for the image loader: a decode refused because of the server's load, not its content.

Large decodes take turns, so only one image's full-size pixels are in memory at a time; a web request
(one with a deadline) never waits for the turn, nor decodes past its deadline: it is answered `Busy`,
to send again later, and the server's threads stay free for small uploads. Training and the CLI pass
no deadline and wait their turn.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Decodes needing more than this (a 16-Mpx RGB image; JPEG photos decode small, in draft mode) take
# turns, so only one image's decode budget is ever in use; smaller ones run in parallel.
LARGE_BYTES = 64 * 2**20
_LARGE_DECODE = threading.Lock()


class Busy(Exception):
    """An image not decoded because of the server's load, not its content: worth sending again later."""


def check_deadline(deadline: float | None) -> None:
    """Raise `Busy` once the deadline (a `time.monotonic()` instant, or None: never) has passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise Busy("the image took too long to decode on this busy server; try again later")


class DeadlineReader(io.BytesIO):
    """The file's bytes, for Pillow: every read checks the deadline.

    Python cannot stop a thread (signals reach the main thread only, and waitress serves from worker
    threads), and an abandoned thread would keep decoding, and holding memory. Pillow's decoders read
    their input 64 KB at a time, so checking between reads stops a decode within one block's work:
    a fraction of a second, as the loader's byte budget bounds the whole decode's.
    """

    def __init__(self, data: bytes, deadline: float | None) -> None:
        super().__init__(data)
        self.deadline = deadline

    def read(self, size: int | None = -1) -> bytes:
        check_deadline(self.deadline)
        return super().read(size)


@contextmanager
def large_decode_turn(wait: bool = True) -> Iterator[None]:
    """Hold the one large-decode turn (tests hold it to stand for another request's large decode);
    without `wait` (a server), refuse at once when it is taken: a request waiting for it would hold
    one of the server's threads, which small uploads need."""
    if not _LARGE_DECODE.acquire(blocking=wait):
        raise Busy("another large image is being decoded; try again in a few seconds")
    try:
        yield
    finally:
        _LARGE_DECODE.release()
