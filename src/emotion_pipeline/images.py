"""Find and load images: the one loading path used by training, evaluation, the CLI and the web app.

Formats are recognised by content (Pillow), not by extension, so a WebP named `.jpg` is read and a
text file named `.jpg` is reported, never silently dropped.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
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


def _open(source: Path | bytes) -> Image.Image:
    """Read and decode the first frame with Pillow, turning every failure into an `ImageError`."""
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
    try:
        # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises above: both refuse here.
        # catch_warnings swaps process-wide state, so threads take turns; opening reads only the header.
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:  # even if another library changed Pillow's limit
            raise _bomb(image.width * image.height)
        image.seek(0)  # first frame of an animation
        image.load()  # decoding runs in parallel
        return image
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

    Resizing ignores the aspect ratio, as Keras' own image loaders do.
    """
    image = _open(Path(source) if isinstance(source, str) else source)
    try:
        rgb = to_rgb(image)
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)
    except MemoryError:
        raise ImageError("not enough memory to convert the image") from None
    except Exception as error:  # a decoded image whose mode or EXIF data Pillow cannot convert
        raise ImageError(f"cannot convert the image to RGB ({_reason(error)})") from None
