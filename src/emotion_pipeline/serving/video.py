"""Read video files and uploads a few frames a second, streamed: one decoded frame in memory at a time.

The decoder is PyAV (`av`): its wheels bundle FFmpeg's libraries (H.264, HEVC, VP8/9, AV1, MPEG-4,
GIF), so `pip install` is the whole setup on Linux, macOS and Windows, and frames come straight out as
PIL images or arrays, in process. imageio-ffmpeg ships an `ffmpeg` executable instead: frames arrive
through a pipe from a subprocess, errors as its log text, and an upload would have to be written to
a file first; PyAV reads a Python file object, so an upload is decoded from memory.

As the image loader does for image formats, only the containers and codecs of everyday clips are
parsed at all (what phones, browsers, screen recorders and GIF makers write), and FFmpeg may open no
other file or URL on a container's say-so (HLS playlists, QuickTime references): attack surface the
project does not need. Every failure is a `VideoError` with a one-line reason; a WebM, MKV or GIF
file cut short streams its frames up to the cut, as a shorter video.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image

from emotion_pipeline.data.images import Busy

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})  # and animated GIFs
# FFmpeg's demuxer names, as `container.format.name` gives them, and its codec names.
CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "gif"})
CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mjpeg", "gif")
MAX_FRAME_PIXELS = 4096 * 2304  # DCI 4K and every phone's video; a header claiming more is refused
# Sampled frames larger than this are scaled down as they are converted (FFmpeg's swscale): face
# detection looks at 640 x 480 anyway, and a face's crop from a 1080p frame is wider than any input
# size the model takes, so a 4K frame costs what a 1080p one does.
WORK_PIXELS = 1920 * 1080
DEFAULT_FPS = 4.0


class VideoError(ValueError):
    """An input that is not a usable video; the message says why, in one line."""


class TooLong(VideoError):
    """A video over the duration limit: the API answers it 413, like an upload over the size limit."""


@dataclass(frozen=True)
class Sample:
    """A sampled frame: its time in seconds from the first frame, the picture (RGB, at most
    WORK_PIXELS), and the original's pixels per pixel of `image`."""

    time: float
    image: Image.Image
    scale: float


def is_video(path: Path) -> bool:
    """Whether `emotion predict` reads a file as a video: by suffix, and a GIF only if animated."""
    suffix = path.suffix.lower()
    if suffix != ".gif":
        return suffix in VIDEO_SUFFIXES
    try:
        with Image.open(path, formats=["GIF"]) as image:
            return bool(getattr(image, "is_animated", False))
    except Exception:  # not a GIF after all: the image loader says why
        return False


def _reason(error: BaseException) -> str:
    """FFmpeg's message without PyAV's `[Errno N]` prefix and file name, on one short line."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 160 else f"{text[:157]}..."


@contextmanager
def _opened(source: Path | bytes | IO[bytes]) -> Iterator[Any]:
    """The container, from a file object (never a name FFmpeg would parse as a URL): the file at a
    path, bytes in memory, or an upload's own buffer, read where it lies."""
    import av

    with _file(source) as file:
        if file.seek(0, io.SEEK_END) == 0:
            raise VideoError("empty file (0 bytes)")
        file.seek(0)
        try:
            container = av.open(file, options={"protocol_whitelist": "none"})
        except av.FFmpegError as error:
            raise VideoError(
                f"not a readable video: corrupt, truncated or unknown ({_reason(error)})"
            ) from None
        with container:
            yield container


@contextmanager
def _file(source: Path | bytes | IO[bytes]) -> Iterator[IO[bytes]]:
    """`source` as a seekable binary file, closed afterwards unless the caller's."""
    if not isinstance(source, Path):
        yield io.BytesIO(source) if isinstance(source, bytes) else source
        return
    try:
        file = open(source, "rb")  # noqa: SIM115 (a context manager below)
    except FileNotFoundError:
        raise VideoError("file not found") from None
    except IsADirectoryError:
        raise VideoError("is a folder, not a file") from None
    except OSError as error:
        raise VideoError(f"cannot read file ({_reason(error)})") from None
    with file:
        yield file


def _check_stream(container: Any, max_seconds: float | None) -> Any:
    """The video stream, once its container, codec, size and duration pass."""
    name = container.format.name
    if name not in CONTAINERS:
        raise VideoError(
            f"unsupported kind of video: {name.split(',')[0]} (accepted: MP4/MOV, WebM/MKV, AVI, GIF)"
        )
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams})
        raise VideoError(f"no video stream in the file (it holds {', '.join(kinds) or 'nothing'})")
    stream = container.streams.video[0]
    codec = stream.codec_context.name
    if codec not in CODECS:
        raise VideoError(f"unsupported video codec: {codec} (accepted: {', '.join(CODECS)})")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(f"frames too large: {width} x {height}, over the {MAX_FRAME_PIXELS:,}-pixel limit")
    seconds = container.duration / 1_000_000 if container.duration else None  # AV_TIME_BASE units
    if max_seconds is not None and seconds is not None and seconds > max_seconds:
        raise TooLong(f"video too long: {seconds:.0f} s, the limit is {max_seconds:.0f} s")
    stream.thread_type = "AUTO"  # FFmpeg decodes on every core: most of a clip's frames are never kept
    return stream


def samples(
    source: Path | bytes | IO[bytes],
    fps: float = DEFAULT_FPS,
    max_seconds: float | None = None,
    deadline: float | None = None,
) -> Iterator[Sample]:
    """The frames at `fps` (the first frame at or after each 1/fps step), streamed.

    Every frame is decoded (compressed frames depend on their predecessors) but only the sampled ones
    are converted to RGB. `max_seconds` refuses a longer video (the header's duration, and the frames'
    own times where the header says nothing or lies); `deadline` (a `time.monotonic()` instant) stops
    a decode that runs past it with `Busy`.
    """
    import av

    with _opened(source) as container:
        stream = _check_stream(container, max_seconds)
        start: float | None = None
        taken = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if deadline is not None and time.monotonic() > deadline:
                    raise Busy("the video took too long to process on this busy server; try again later")
                at = frame.time if frame.time is not None else index / float(stream.average_rate or 25)
                start = at if start is None else start
                t = at - start
                if max_seconds is not None and t > max_seconds:
                    raise TooLong(f"video too long: over {max_seconds:.0f} s, the limit")
                if t + 1e-6 < taken / fps:
                    continue
                taken = math.floor(t * fps + 1e-6) + 1
                yield _sample(frame, t)
        except av.FFmpegError as error:
            raise VideoError(f"corrupt or truncated video ({_reason(error)})") from None
        if start is None:
            raise VideoError("the video has no frames")


def _sample(frame: Any, t: float) -> Sample:
    """A frame as RGB, scaled down to WORK_PIXELS where larger."""
    width, height = frame.width, frame.height
    if width * height > MAX_FRAME_PIXELS:  # a stream may change size midway, past the header's check
        raise VideoError(f"frames too large: {width} x {height}, over the {MAX_FRAME_PIXELS:,}-pixel limit")
    shrink = min(1.0, math.sqrt(WORK_PIXELS / (width * height)))
    if shrink == 1.0:
        return Sample(t, frame.to_image(), 1.0)
    size = (max(2, round(width * shrink)), max(2, round(height * shrink)))
    return Sample(t, frame.to_image(width=size[0], height=size[1], interpolation="BILINEAR"), width / size[0])
