"""Synthetic video: the sample's face drawings gliding across a backdrop and changing expression
halfway, encoded with PyAV. The video tests and the video benchmark make their clips with it, so no
clip (and no licence question) is ever committed."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from emotion_pipeline.data.synthetic import CLASSES, draw_face

# The encoder for each container the video reader accepts: what phones, browsers and GIF makers write.
CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx", ".avi": "mpeg4"}
BACKDROP = (70, 110, 140)


def script(faces: int) -> list[tuple[str, str]]:
    """Each face's expression in the first and the second half of the clip: different classes."""
    return [(CLASSES[n % len(CLASSES)], CLASSES[(n + 1) % len(CLASSES)]) for n in range(faces)]


def moving_faces(
    seconds: float, fps: int, size: tuple[int, int], faces: int = 1, seed: int = 0
) -> Iterator[np.ndarray]:
    """RGB frames: `faces` faces in a row, each a third of the height, drifting right and back, each
    switching expression (see `script`) at the clip's midpoint."""
    width, height = size
    side = height // 3
    drawings = [
        [
            draw_face(emotion, np.random.default_rng([seed, n, half]), side)
            for half, emotion in enumerate(pair)
        ]
        for n, pair in enumerate(script(faces))
    ]
    count = round(seconds * fps)
    lane = width // max(1, faces)
    for index in range(count):
        t = index / fps
        canvas = Image.new("RGB", size, BACKDROP)
        drift = (1 - abs(2 * t / seconds - 1)) * max(0, lane - side) * 0.5  # there and back
        for n, pair in enumerate(drawings):
            x = round(n * lane + drift)
            canvas.paste(pair[int(t >= seconds / 2)], (x, (height - side) // 2))
        yield np.asarray(canvas)


def write_clip(
    path: str | Path, frames: Iterator[np.ndarray], fps: int, options: dict[str, str] | None = None
) -> Path:
    """Encode RGB frames into `path`, the codec chosen by its suffix (CODECS; `.gif` as a GIF), with
    the encoder's `options` (x264's `preset`, say)."""
    import av

    path = Path(path)
    gif = path.suffix.lower() == ".gif"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("gif" if gif else CODECS[path.suffix.lower()], rate=fps)
        stream.pix_fmt = "rgb8" if gif else "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = options or {}
        for index, pixels in enumerate(frames):
            if index == 0:
                stream.height, stream.width = pixels.shape[:2]
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
