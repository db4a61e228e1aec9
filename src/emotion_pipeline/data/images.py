"""Load images: the one loading path used by training, evaluation, the CLI and the web app.

Formats are recognised by content (Pillow), not by extension, so a WebP named `.jpg` is read and a
text file named `.jpg` is reported, never silently dropped. Only the formats the project lists are
parsed at all; every decode is held to a memory budget, and the web app's also to a deadline (the
load shedding is `shedding`'s).
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from emotion_pipeline.data.shedding import (
    LARGE_BYTES,
    Busy,
    DeadlineReader,
    check_deadline,
    large_decode_turn,
)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in an image's pixels; x1 and y1 exclusive
# The only formats Pillow may parse, recognised by content whatever a file's suffix. Every other
# parser (TIFF, EPS and its Ghostscript call, PSD...) is attack surface the project does not need.
# Pillow's JPEG opener also returns the multi-picture JPEGs of many cameras, as format "MPO".
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# Larger images are refused as possible decompression bombs: 120 Mpx admits a 10,000 x 10,000 scan
# (about 6x the largest real photo seen) and still refuses headers that claim gigapixels.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Memory is bytes, not pixels: a 16-bit or RGBA pixel costs more than a palette one. 512 MiB for the
# full-size copies of one image admits a 10,000 x 10,000 palette or 16-bit scan and any 8,000 x 8,000
# image, and keeps a server's peak under 1 GB (one large decode at a time: `shedding.LARGE_BYTES`).
MAX_DECODE_BYTES = 512 * 2**20
_OPEN_LOCK = threading.Lock()


class ImageError(ValueError):
    """An input that is not a usable image; the message says why, in one line."""


def _reason(error: BaseException) -> str:
    """An exception's message on one short line: Pillow's can be empty, long or span lines."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else f"{text[:197]}..."


def _bomb(pixels: int | None) -> ImageError:
    size = "the image" if pixels is None else f"{pixels:,} pixels"
    return ImageError(f"possible decompression bomb: {size} is over the {MAX_PIXELS:,}-pixel limit")


def _read(source: Path | bytes) -> bytes:
    """The file's bytes, or an `ImageError` saying why they cannot be read."""
    try:
        data = source if isinstance(source, bytes) else source.read_bytes()
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("is a folder, not a file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except (OSError, ValueError, MemoryError) as error:  # a device error, a NUL in the name, a huge file
        raise ImageError(f"cannot read file ({_reason(error)})") from None
    if not data:
        raise ImageError("empty file (0 bytes)")
    return data


@contextmanager
def _decoding() -> Iterator[None]:
    """Turn every failure of Pillow's decoders into an `ImageError` with a one-line reason."""
    try:
        yield
    except (ImageError, Busy):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))  # Pillow: "Image size (N pixels) exceeds ..."
        raise _bomb(int(claimed[1]) if claimed else None) from None
    except NotImplementedError as error:  # a known format in a variant Pillow cannot decode
        raise ImageError(f"unsupported kind of image ({_reason(error)})") from None
    except MemoryError:
        raise ImageError("not enough memory to decode the image") from None
    except Exception as error:  # Pillow's decoders raise many types on bad bytes: struct.error, KeyError...
        raise ImageError(f"corrupt or truncated image ({_reason(error)})") from None


def _unsupported(prefix: bytes) -> ImageError:
    """Name the format of a file outside FORMATS from its first bytes, as Pillow's own test does,
    without handing the file to that format's parser."""
    Image.init()
    for name, (_, accept) in Image.OPEN.items():
        with suppress(Exception):  # a plugin's test should not fail, but the reason must stay clean
            if name not in FORMATS and accept and accept(prefix):
                return ImageError(f"unsupported kind of image: {name} (accepted: {', '.join(FORMATS)})")
    return ImageError("not an image (unknown or unsupported format)")


def _open(data: bytes, deadline: float | None) -> Image.Image:
    """Read the header only, refusing other formats and decompression bombs before any pixel is decoded."""
    # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises above: both refuse here.
    # catch_warnings swaps process-wide state, so threads take turns; opening reads only the header.
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(DeadlineReader(data, deadline), formats=FORMATS)
        except UnidentifiedImageError:
            raise _unsupported(data[:16]) from None
    if image.width * image.height > MAX_PIXELS:  # even if another library changed Pillow's limit
        raise _bomb(image.width * image.height)
    return image


def _pixel_bytes(mode: str) -> int:
    """Bytes per pixel as Pillow stores a mode: bands x bytes per sample, 2 and 3 bands padded to 4."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


def _flat_mode(image: Image.Image) -> str | None:
    """The mode a 1-bit or palette image is converted to before resizing: Pillow resizes those by
    nearest neighbour only. None for the other modes, resized as decoded."""
    if image.mode == "1":
        return "L"
    if image.mode in ("P", "PA"):
        return "RGBA" if image.has_transparency_data else "RGB"
    return None


def _full_size_bytes(image: Image.Image) -> int:
    """The memory the loader needs at full size: the decoded pixels, their flattened copy (palette,
    1-bit), and the premultiplied copy Pillow's resize makes of an image with alpha."""
    modes = [image.mode]
    flat = _flat_mode(image)
    if flat:
        modes.append(flat)
    if modes[-1] in ("LA", "RGBA"):
        modes.append(modes[-1][:-1] + "a")
    return image.width * image.height * sum(map(_pixel_bytes, modes))


def _rgb_bytes(image: Image.Image) -> int:
    """Bytes per output pixel `to_rgb` may hold at once: the EXIF-rotated and RGB copies; for 16-bit,
    NumPy's temporaries; with alpha, three RGBA copies. Only a photo decoded at full size (to look
    for faces) makes this count."""
    mode = _flat_mode(image) or image.mode
    return 24 if mode.startswith("I") else 20 if mode in ("LA", "RGBA", "PA") else 8


def _bytes_within_budget(image: Image.Image, output: tuple[int, int]) -> int:
    """The bytes decoding `image` to RGB at the `output` size needs, or an `ImageError` if they are
    over MAX_DECODE_BYTES."""
    needed = _full_size_bytes(image) + output[0] * output[1] * _rgb_bytes(image)
    if needed > MAX_DECODE_BYTES:
        raise ImageError(
            f"image too large to decode: {image.width:,} x {image.height:,} {image.mode} pixels need "
            f"{needed / 2**20:,.0f} MiB, over the {MAX_DECODE_BYTES // 2**20} MiB limit per image"
        )
    return needed


def _largest_within_budget(image: Image.Image) -> tuple[int, int]:
    """Full size, aspect kept, unless converting that to RGB would break the byte budget: then the
    largest size that keeps to it (a 10,000 x 10,000 16-bit scan comes out about 3,700 pixels wide)."""
    left = max(0, MAX_DECODE_BYTES - _full_size_bytes(image))
    scale = min(1.0, math.sqrt(left / _rgb_bytes(image) / (image.width * image.height)))
    return max(1, math.floor(image.width * scale)), max(1, math.floor(image.height * scale))


def _shrink(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to `size` first, in the decoded mode where Pillow resizes it smoothly (16-bit
    included), so every later conversion copies a small image, never the full one."""
    flat = _flat_mode(image)
    if flat:
        image = image.convert(flat)
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.BILINEAR)  # alpha: premultiplied by Pillow


def _to_8_bit(image: Image.Image) -> Image.Image:
    """Scale the full 16-bit range, whatever the content, so a dark 16-bit image stays dark.

    Integer arithmetic: (x + 128) // 257 is round(x / 257), exactly, for every 16-bit x.
    """
    samples = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)  # mode "I" may hold any int32
    return Image.fromarray(((samples + 128) // 257).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """Apply EXIF rotation and flatten a shrunk image's mode (alpha on white, 16-bit, CMYK) to RGB."""
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I"):  # "I;16": 16-bit greyscale PNG
        image = _to_8_bit(image)
    if image.mode in ("RGBA", "LA"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


def _decode(
    source: Path | str | bytes, size: int | None, deadline: float | None
) -> tuple[Image.Image, float]:
    """RGB at `size` x `size`, or (None) at full size, aspect kept, as far as the byte budget allows;
    and the original's pixels per decoded pixel."""
    data = _read(Path(source) if isinstance(source, str) else source)
    with _decoding():
        image = _open(data, deadline)
        image.seek(0)  # first frame of an animation
        width = image.width
        image.draft("RGB", (size, size) if size else image.size)
        output = (size, size) if size else _largest_within_budget(image)
        large = _bytes_within_budget(image, output) > LARGE_BYTES
        # Closing frees the full-size pixels before the next large decode may start.
        with large_decode_turn(wait=deadline is None) if large else nullcontext(), closing(image):
            image.load()
            check_deadline(deadline)
            return to_rgb(_shrink(image, output)), width / output[0]


def load_image(source: Path | str | bytes, size: int, deadline: float | None = None) -> np.ndarray:
    """Decode a file or bytes into a `size`x`size`x3 uint8 RGB array, or raise `ImageError`.

    JPEGs are decoded directly at a reduced scale no smaller than `size` (Pillow's draft mode), other
    images are resized before any conversion, and images over MAX_DECODE_BYTES are refused, so memory
    stays bounded; those over LARGE_BYTES decode one at a time. With a `deadline` (a `time.monotonic()`
    instant; the web app's), a large image arriving while another decodes, or a decode still running
    at the deadline, raises `Busy`. Resizing ignores the aspect ratio, as Keras' own image loaders do.
    """
    return np.asarray(_decode(source, size, deadline)[0], dtype=np.uint8)


@dataclass(frozen=True)
class Photo:
    image: Image.Image  # RGB, aspect kept, EXIF rotation applied
    scale: float  # the original's pixels per pixel of `image`: 1.0 unless the byte budget shrank it


def load_photo(source: Path | str | bytes, deadline: float | None = None) -> Photo:
    """`load_image`'s decode (formats, byte budget, large-decode turns, deadline), at full size with
    the aspect kept: only an image whose RGB copy would break the byte budget comes out smaller."""
    return Photo(*_decode(source, None, deadline))


def to_array(image: Image.Image, size: int) -> np.ndarray:
    """An RGB image (a face crop) as a `size`x`size`x3 uint8 array, resized as `load_image` resizes:
    a crop served from memory and the same crop read back from a PNG file give the same array."""
    return np.asarray(to_rgb(_shrink(image, (size, size))), dtype=np.uint8)
