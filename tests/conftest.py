"""Shared fixtures: one tiny saved classifier per session, and encoded test images."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:  # importing it loads TensorFlow: only the tests that need a model pay for it
    from emotion_pipeline.serving.predict import Classifier

CLASSES = ["angry", "happy", "sad"]
TINY_IMAGE_SIZE = 32


def repository_root() -> Path:
    """The checkout's root; for a git worktree, the main checkout's (where shared data sits beside it)."""
    checkout = Path(__file__).resolve().parents[1]
    common = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    return Path(common.stdout.strip()).parent if common.returncode == 0 else checkout


# Real photos for the face tests: the web-emotions dataset beside the repository, as CI has it.
WEB_EMOTIONS = repository_root().parent / "shared/datasets/web-emotions"


def tiny_classifier(path: Path, faces: dict | None = None, classes: list[str] = CLASSES) -> Path:
    """A randomly initialised VGG16 classifier at 32x32, saved: the real architecture, fast to build
    and run; with `faces`, one that looks for faces with those settings."""
    from emotion_pipeline.model.network import assemble, build_head, build_vgg16

    base = build_vgg16(None, TINY_IMAGE_SIZE)
    head = build_head(base.output_shape[1:], classes, 8, 0.0)
    assemble(base, head, classes, TINY_IMAGE_SIZE, faces=faces).save(path)
    return path


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("model") / "model.keras")


@pytest.fixture(scope="session")
def face_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny classifier, trained (so to speak) on face crops with the default face settings."""
    faces = {"detect": True, "min_confidence": 0.9, "margin": 0.1, "fallback": "whole"}
    return tiny_classifier(tmp_path_factory.mktemp("face_model") / "model.keras", faces)


@pytest.fixture(scope="session")
def face_classifier(face_model_path: Path) -> Classifier:
    from emotion_pipeline.serving.predict import Classifier

    return Classifier(face_model_path)


@pytest.fixture(scope="session")
def photo() -> Callable[[str], Path]:
    """A web-emotions photo by class and file name; the test is skipped where the dataset is absent."""

    def find(relative: str) -> Path:
        path = WEB_EMOTIONS / relative
        if not path.is_file():
            pytest.skip(f"{path} not found (the web-emotions dataset beside the repository)")
        return path

    return find


@pytest.fixture(scope="session")
def classifier(model_path: Path) -> Classifier:
    """The tiny model loaded once, shared by the web and CLI tests."""
    from emotion_pipeline.serving.predict import Classifier

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
