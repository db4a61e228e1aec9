"""Find and load images: the one loading path used by training, evaluation, the CLI and the web app.

Formats are recognised by content (Pillow), not by extension, so a WebP named `.jpg` is read and a
text file named `.jpg` is reported, never silently dropped.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
# Larger images are refused as possible decompression bombs (about 3x the largest real photo seen).
MAX_PIXELS = 60_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


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


def find_images(root: Path) -> tuple[list[Candidate], list[tuple[Path, str]]]:
    """Every file under `root/<class>/` (any depth), sorted, plus the files ignored and why.

    All non-hidden files are candidates, whatever their extension: `load_image` decides by content.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    candidates: list[Candidate] = []
    ignored: list[tuple[Path, str]] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p.relative_to(root))):
        for path in sorted(class_dir.rglob("*")):
            if not path.is_file():
                continue
            if is_hidden(path.relative_to(root)):
                ignored.append((path, "hidden file"))
            else:
                candidates.append(Candidate(path, class_dir.name))
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        ignored.append((path, "not inside a class folder"))
    return candidates, ignored


def _open(source: Path | bytes) -> Image.Image:
    """Open a file or bytes with Pillow, turning every failure into an `ImageError`."""
    try:
        data = source if isinstance(source, bytes) else source.read_bytes()
        if not data:
            raise ImageError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"image too large ({image.width}x{image.height} pixels)")
            image.seek(0)  # first frame of an animation
            image.load()
            return image
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"possible decompression bomb: {error}") from None
    except UnidentifiedImageError:
        raise ImageError("not an image (unknown or unsupported format)") from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("is a folder, not a file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as error:
        raise ImageError(f"corrupt or truncated image ({error})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Apply EXIF rotation and flatten any mode (alpha on white, palette, 16-bit, CMYK) to RGB."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray((array * 255.0 / peak).round().astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
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
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"corrupt or truncated image ({error})") from None
