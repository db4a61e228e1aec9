"""Find and load images: the one loading path used by training, evaluation, the CLI and the web app.

Formats are recognised by content (Pillow), not by extension, so a WebP named `.jpg` is read and a
text file named `.jpg` is reported, never silently dropped.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
# Larger images are refused as possible decompression bombs: 120 Mpx admits a 10,000 x 10,000 scan
# (about 6x the largest real photo seen) and still refuses headers that claim gigapixels.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_OPEN_LOCK = threading.Lock()
LARGE_PIXELS = 16_000_000
_LARGE_DECODE = threading.Lock()


class ImageError(ValueError):
    """An input that is not a usable image; the message says why, in one line."""


@dataclass(frozen=True)
class Candidate:
    """A file found under a class folder: its path and label."""

    path: Path
    label: str


def is_hidden(path: Path) -> bool:
    """Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints`) are never data."""
    return any(part.startswith(".") for part in path.parts)


def class_folders(root: Path) -> list[Path]:
    """The class folders under `root`: its non-hidden sub-folders, sorted (empty ones included)."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not is_hidden(p.relative_to(root)))


def find_images(root: Path) -> tuple[list[Candidate], list[tuple[Path, str]]]:
    """Every file under `root/<class>/` (any depth), sorted, plus every other file under `root` and why.

    All non-hidden files are candidates, whatever their extension: `load_image` decides by content.
    Nothing is dropped unreported, not even the files in a hidden top-level folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    candidates: list[Candidate] = []
    ignored: list[tuple[Path, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if is_hidden(relative):
            ignored.append((path, "hidden file"))
        elif len(relative.parts) == 1:
            ignored.append((path, "not inside a class folder"))
        else:
            candidates.append(Candidate(path, relative.parts[0]))
    return candidates, ignored


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
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))  # Pillow: "Image size (N pixels) exceeds ..."
        raise _bomb(int(claimed[1]) if claimed else None) from None
    except UnidentifiedImageError:
        raise ImageError("not an image (unknown or unsupported format)") from None
    except NotImplementedError as error:  # a known format in a variant Pillow cannot decode
        raise ImageError(f"unsupported kind of image ({_reason(error)})") from None
    except MemoryError:
        raise ImageError("not enough memory to decode the image") from None
    except Exception as error:  # Pillow's decoders raise many types on bad bytes: struct.error, KeyError...
        raise ImageError(f"corrupt or truncated image ({_reason(error)})") from None


def _open(data: bytes) -> Image.Image:
    """Read the header only, refusing decompression bombs before any pixel is decoded."""
    # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises above: both refuse here.
    # catch_warnings swaps process-wide state, so threads take turns; opening reads only the header.
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
    if image.width * image.height > MAX_PIXELS:  # even if another library changed Pillow's limit
        raise _bomb(image.width * image.height)
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Apply EXIF rotation and flatten any mode (alpha on white, palette, 16-bit, CMYK) to RGB."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Scale the full 16-bit range, whatever the content, so a dark 16-bit image stays dark.
        # Mode "I" is what Pillow gives 16-bit PGM/PPM files.
        array = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
        image = Image.fromarray(np.round(array / 257.0).astype(np.uint8), "L")
    if image.mode == "P":
        # Only a palette with a transparent entry needs the (4x larger) RGBA detour.
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


def load_image(source: Path | str | bytes, size: int) -> np.ndarray:
    """Decode a file or bytes into a `size`x`size`x3 uint8 RGB array, or raise `ImageError`.

    JPEGs are decoded directly at a reduced scale no smaller than `size` (Pillow's draft mode), and
    images over LARGE_PIXELS decode one at a time, so a server's memory stays bounded under load.
    Resizing ignores the aspect ratio, as Keras' own image loaders do.
    """
    data = _read(Path(source) if isinstance(source, str) else source)
    with _decoding():
        image = _open(data)
        with _LARGE_DECODE if image.width * image.height > LARGE_PIXELS else nullcontext():
            image.seek(0)  # first frame of an animation
            image.draft("RGB", (size, size))
            rgb = to_rgb(image)
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
