"""Shared fixtures: one tiny saved classifier per session, and encoded test images."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:  # importing it loads TensorFlow: only the tests that need a model pay for it
    from emotion_pipeline.predict import Classifier

CLASSES = ["angry", "happy", "sad"]
TINY_IMAGE_SIZE = 32


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised VGG16 classifier at 32x32: the real architecture, fast to build and run."""
    from emotion_pipeline.model import assemble, build_head, build_vgg16

    base = build_vgg16(None, TINY_IMAGE_SIZE)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    assemble(base, head, CLASSES, TINY_IMAGE_SIZE).save(path)
    return path


@pytest.fixture(scope="session")
def classifier(model_path: Path) -> Classifier:
    """The tiny model loaded once, shared by the web and CLI tests."""
    from emotion_pipeline.predict import Classifier

    return Classifier(model_path)


def encode_image(fmt: str = "PNG", size: tuple[int, int] = (48, 40), seed: int = 0) -> bytes:
    """A random-noise RGB image encoded in `fmt`: valid for any decoder, different for each seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """`encode_image` as a fixture, so test modules need not import conftest."""
    return encode_image
