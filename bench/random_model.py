"""What several benchmarks share, not a benchmark itself: a classifier of the real architecture with
random weights (what a trained one costs, without training one), and the 1-megapixel face photo
they upload."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from emotion_pipeline.data.faces import FaceSettings, settings_config
from emotion_pipeline.model.network import assemble, build_head, build_vgg16

CLASSES = ["angry", "happy", "sad"]
PHOTO_SIZE = (1200, 830)  # about one megapixel


def random_classifier(
    path: Path, size: int, faces: bool = False, model: dict[str, Any] | None = None
) -> Path:
    """VGG16 with random weights at `size`, saved at `path`: of a recipe's `model` params' shape where
    given (its width, BatchNorm, dense units, grey pixels), else the report's; looking for faces (the
    default face settings) where `faces`."""
    model = model or {}
    base = build_vgg16(None, size, model.get("batch_norm", False), model.get("width_multiplier", 1.0))
    head = build_head(base.output_shape[1:], CLASSES, model.get("dense_units", 128), 0.4)
    settings = settings_config(FaceSettings()) if faces else None
    assemble(base, head, CLASSES, size, faces=settings, grayscale=model.get("grayscale", False)).save(path)
    return path


def one_megapixel_jpeg(photo: Path) -> bytes:
    """`photo` resized to PHOTO_SIZE, as a JPEG upload (quality 90)."""
    with Image.open(photo) as image:
        picture = image.convert("RGB").resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
