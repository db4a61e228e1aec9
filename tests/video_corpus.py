"""Clips the video tests make: the synthetic faces moving (`moving_faces`), and bad videos, each with
the start of the one-line reason it must get."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from emotion_pipeline.data.moving_faces import moving_faces, write_clip

SIZE = (160, 120)
FPS = 10  # the clips' own frame rate
SECONDS = 3.0


def make_clip(folder: Path, name: str = "clip.mp4", seconds: float = SECONDS, faces: int = 2) -> Path:
    return write_clip(folder / name, moving_faces(seconds, FPS, SIZE, faces), FPS)


def audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for index in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def prores(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("prores", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv422p10le"
        for index, pixels in enumerate(moving_faces(0.3, FPS, (64, 48))):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def ten_minutes(path: Path) -> Path:
    """Two frames ten minutes apart: a long video in a few kilobytes."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1)
        for pts in (0, 600):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = pts
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def written(data: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return write


def truncated(path: Path) -> Path:
    """The first 6 KB of a clip: MP4 keeps its index (moov) at the end, so nothing is playable."""
    return written(make_clip(path.parent, "whole.mp4").read_bytes()[:6000])(path)


BAD_VIDEOS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated.mp4": (truncated, "not a readable video"),
    "empty.mp4": (written(b""), "empty file (0 bytes)"),
    "notes.mp4": (written(b"not a video\n"), "not a readable video"),
    "voice.mp4": (audio_only, "no video stream in the file (it holds audio)"),
    "prores.mov": (prores, "unsupported video codec: prores"),
    "missing.mp4": (lambda path: path, "file not found"),
}
