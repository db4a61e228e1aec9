"""Tests for the synthetic sample generator: reproducible, well-formed, small and learnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from project import load_stage, write_params

from emotion_pipeline.data.synthetic import CLASSES, generate_sample


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jpg"))}


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The committed configuration, generated once for the tests that only read it."""
    out = tmp_path_factory.mktemp("default")
    return out, generate_sample(out)


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    generate_sample(tmp_path / "a", per_class=5, size=96, seed=3)
    generate_sample(tmp_path / "b", per_class=5, size=96, seed=3)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(first) == 15
    assert first == second


def test_rerun_replaces_stale_files(tmp_path: Path) -> None:
    generate_sample(tmp_path, per_class=6, size=64)
    counts = generate_sample(tmp_path, per_class=2, size=64)
    assert counts == {"angry": 2, "happy": 2, "sad": 2}
    assert sorted(_files(tmp_path)) == sorted(f"{c}/{c}_{i:03d}.jpg" for c in CLASSES for i in range(2))


@pytest.mark.slow
def test_default_counts_sizes_and_total(default_sample: tuple[Path, dict[str, int]]) -> None:
    out, counts = default_sample
    assert counts == {"angry": 40, "happy": 40, "sad": 40}
    total = 0
    for emotion in CLASSES:
        paths = sorted((out / emotion).glob("*.jpg"))
        assert len(paths) == 40
        for path in paths:
            with Image.open(path) as image:
                image.load()
                assert image.format == "JPEG"
                assert image.size == (160, 160)
                assert image.mode == "RGB"
            total += path.stat().st_size
    assert total < 2 * 1024 * 1024


def _face_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of everything that is not background; the background is a flat colour or a
    linear gradient, so a plane fitted to the border pixels predicts it."""
    h, w, _ = rgb.shape
    ys, xs = np.mgrid[0:h, 0:w]
    design = np.stack([np.ones(h * w), xs.ravel(), ys.ravel()], axis=1)
    border = np.zeros((h, w), dtype=bool)
    border[:2], border[-2:], border[:, :2], border[:, -2:] = True, True, True, True
    pixels = rgb.reshape(-1, 3)
    coef, *_ = np.linalg.lstsq(design[border.ravel()], pixels[border.ravel()], rcond=None)
    foreground = (np.abs(pixels - design @ coef).max(axis=1) > 40).reshape(h, w)
    rows = np.flatnonzero(foreground.sum(axis=1) > 2)
    cols = np.flatnonzero(foreground.sum(axis=0) > 2)
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _features(root: Path, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """n x n grayscale "ink" map of the cropped face: how much darker than the skin each pixel is.

    Cropping undoes position and scale; measuring ink against the skin median ignores skin,
    background and ink colours, so only the drawn features remain.
    """
    yy, xx = np.mgrid[0:n, 0:n]
    centre, radius = (n - 1) / 2, n / 2 * 0.9
    inside = (xx - centre) ** 2 + (yy - centre) ** 2 <= radius**2
    rows, labels = [], []
    for label, emotion in enumerate(CLASSES):
        for path in sorted((root / emotion).glob("*.jpg")):
            with Image.open(path) as image:
                rgb = image.convert("RGB")
                face = rgb.crop(_face_box(np.asarray(rgb, dtype=float)))
                gray = np.asarray(face.convert("L").resize((n, n), Image.Resampling.BOX), float)
            ink = np.clip(np.median(gray[inside]) - gray, 0, None) * inside
            rows.append((ink / (ink.sum() + 1e-6)).ravel())
            labels.append(label)
    return np.stack(rows), np.array(labels)


@pytest.mark.slow
def test_classes_are_learnable_by_nearest_mean(tmp_path: Path) -> None:
    generate_sample(tmp_path / "train", per_class=30, size=96, seed=1)
    generate_sample(tmp_path / "test", per_class=30, size=96, seed=2)
    x_train, y_train = _features(tmp_path / "train")
    x_test, y_test = _features(tmp_path / "test")
    means = np.stack([x_train[y_train == k].mean(axis=0) for k in range(len(CLASSES))])
    distances = ((x_test[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    accuracy = float((distances.argmin(axis=1) == y_test).mean())
    assert accuracy > 0.6


def test_the_sample_stage_makes_the_configured_faces_and_nothing_when_off(tmp_path: Path) -> None:
    stage, out = load_stage("sample"), tmp_path / "generated"
    params = write_params(tmp_path / "params.yaml", {"sample.per_class": 3, "sample.size": 40})
    assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    generate_sample(tmp_path / "direct", per_class=3, size=40, seed=0)
    assert _files(out) == _files(tmp_path / "direct")  # the generator's own files, byte for byte
    with Image.open(out / "sad" / "sad_002.jpg") as image:
        assert image.size == (40, 40)
    params = write_params(tmp_path / "params.yaml", {"sample.per_class": 0})
    assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    assert out.is_dir() and not any(out.iterdir())
