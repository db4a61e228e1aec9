"""Heatmaps drawn over pictures, and the files and data URLs they travel in: what the report, the CLI
and the web app show of Grad-CAM, with no TensorFlow (the maps themselves come from `explain`)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from emotion_pipeline.core.tables import replacing
from emotion_pipeline.data.images import Box, to_rgb

OPACITY = 0.6  # of the colour where the heat is highest; where there is none the image shows as it is
COLOURS = colormaps["jet"]  # blue (little) to red (most)


def display_image(path: str | Path) -> np.ndarray:
    """An image file at its own size, upright, as RGB: the picture an overlay is drawn on (once
    `load_image` has accepted the file)."""
    with Image.open(path) as image:
        return np.asarray(to_rgb(image))


def heatmap_colours(heatmap: np.ndarray, width: int, height: int) -> np.ndarray:
    """The map stretched over `width`x`height` (the model saw the whole image, squashed to a square)
    as RGBA: the colour map's colour, opaque in proportion to the heat, at most OPACITY."""
    heat = Image.fromarray(np.asarray(heatmap, dtype="float32")).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    heat = np.clip(np.asarray(heat), 0.0, 1.0)
    rgba = COLOURS(heat)
    rgba[..., 3] = OPACITY * heat
    return np.round(rgba * 255).astype(np.uint8)


def overlay(
    picture: np.ndarray, heatmap: np.ndarray, square: Box | None = None, turn: float = 0.0
) -> np.ndarray:
    """`picture` (any size) with the heatmap blended over it, or only over `square` (x0, y0, x1, y1 in
    its pixels: the face square a face model saw), turned back by `turn` degrees where the model saw
    the face turned upright (`faces.align`); the same size as `picture`."""
    x0, y0, x1, y1 = square or (0, 0, picture.shape[1], picture.shape[0])
    colours = heatmap_colours(heatmap, x1 - x0, y1 - y0)
    if turn:  # PIL turns anticlockwise; outside the turned map stays transparent
        colours = np.asarray(Image.fromarray(colours).rotate(-turn, Image.Resampling.BILINEAR))
    colours = colours.astype("float32") / 255
    alpha = colours[..., 3:]
    blended = picture.copy()
    region = picture[y0:y1, x0:x1].astype("float32")
    blended[y0:y1, x0:x1] = np.round(region * (1 - alpha) + colours[..., :3] * 255 * alpha).astype(np.uint8)
    return blended


def png_bytes(pixels: np.ndarray) -> bytes:
    """An RGB or RGBA array as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(pixels: np.ndarray | bytes) -> str:
    """An array (or PNG bytes) as a `data:image/png;base64,...` URL, for a page to show without
    another request."""
    png = pixels if isinstance(pixels, bytes) else png_bytes(pixels)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def output_paths(
    files: Sequence[Path], out: Path, tag: str = "_gradcam", extension: str = ".png"
) -> list[Path]:
    """One output path per input, `<stem><tag><extension>` in `out` (an overlay PNG unless told),
    numbered where stems repeat."""
    taken: set[str] = set()
    paths = []
    for file in files:
        name, number = f"{file.stem}{tag}{extension}", 1
        while name in taken:
            number += 1
            name = f"{file.stem}{tag}-{number}{extension}"
        taken.add(name)
        paths.append(out / name)
    return paths


def save_heatmaps(path: str | Path, paths: Sequence[str], maps: Sequence[np.ndarray]) -> None:
    """The test images' heatmaps, keyed by their paths as the predictions list them: the evaluate
    stage computes them with its predictions, and the report draws them without TensorFlow."""
    with replacing(path) as tmp:
        np.savez(
            tmp, paths=np.asarray(paths, dtype=str), maps=np.stack(maps) if maps else np.zeros((0, 1, 1))
        )


def load_heatmaps(path: str | Path) -> dict[str, np.ndarray]:
    """{path: heatmap} as `save_heatmaps` wrote it; empty when the file is absent."""
    if not Path(path).is_file():
        return {}
    with np.load(path) as data:
        return dict(zip(data["paths"].tolist(), data["maps"], strict=True))
