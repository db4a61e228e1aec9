"""MTCNN without TensorFlow (`face_nets`, `face_cascade`): the `mtcnn` package's faces, boxes,
confidences and eyes on real photos, its networks' outputs and its resampling on random arrays,
nothing found where there is nothing to find, and no TensorFlow imported along the way.

Real photos come from the web-emotions dataset beside the repository; without it those tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from project import ROOT

from emotion_pipeline.data import face_cascade
from emotion_pipeline.data.face_cascade import FaceCascade, area_resize, crops
from emotion_pipeline.data.faces import LOOKS, detect, detect_at, scaled_copy
from emotion_pipeline.data.images import load_photo

# One face, two, six, and a bowed head with none (tests/data/test_faces.py's photos), and a crowd.
PHOTOS = (
    "Angry/YdGPmBa6UZj8pxM95T2ADA-320-80.jpg",
    "Angry/images18.jpg",
    "Happy/images12.jpg",
    "Sad/man-with-head-down-300x300.jpg",
    "Happy/goup-happy-people-35582464.jpg",
)
THRESHOLD = 0.8  # the package's default last-stage threshold: compares the faces under 0.9 too


@pytest.fixture(scope="module")
def cascade() -> FaceCascade:
    return FaceCascade()


@pytest.fixture(scope="module")
def package_mtcnn():
    mtcnn = pytest.importorskip("mtcnn")
    return mtcnn.MTCNN(stages="face_and_landmarks_detection", device="CPU:0")


def noise(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.slow
@pytest.mark.parametrize("name", PHOTOS)
def test_the_cascade_finds_what_the_package_finds(name: str, photo, cascade, package_mtcnn) -> None:
    image = load_photo(photo(name)).image
    for pixels in LOOKS[:2]:
        array = np.asarray(scaled_copy(image, pixels), dtype=np.uint8)
        expected = package_mtcnn.detect_faces(array, box_format="xyxy", threshold_onet=THRESHOLD)
        found = cascade.detect_faces(array, threshold_onet=THRESHOLD)
        assert len(found) == len(expected), (name, pixels)
        for ours, theirs in zip(found, expected, strict=True):  # both best first
            assert np.abs(np.subtract(ours["box"], theirs["box"])).max() <= 1
            assert ours["confidence"] == pytest.approx(float(theirs["confidence"]), abs=1e-3)
            for eye in ("left_eye", "right_eye"):
                assert np.abs(np.subtract(ours["keypoints"][eye], theirs["keypoints"][eye])).max() <= 1


@pytest.mark.slow
def test_the_networks_compute_what_the_keras_models_compute(cascade, package_mtcnn) -> None:
    rng = np.random.default_rng(1)
    pnet, rnet, onet = (stage.model for stage in package_mtcnn.stages)
    for height, width in ((12, 12), (13, 17), (101, 135)):  # odd sides: "same" pooling pads the end
        images = rng.uniform(-1, 1, (2, height, width, 3)).astype(np.float32)
        regression, face = (np.asarray(t) for t in pnet(images))
        out = cascade.pnet.run(images)
        np.testing.assert_allclose(out["regression"].transpose(0, 2, 3, 1), regression, atol=1e-5)
        np.testing.assert_allclose(out["face"].transpose(0, 2, 3, 1), face, atol=1e-5)
    for ours, theirs, side in ((cascade.rnet, rnet, 24), (cascade.onet, onet, 48)):
        crops_in = rng.uniform(-1, 1, (3, side, side, 3)).astype(np.float32)
        for mine, keras in zip(ours.run(crops_in).values(), theirs(crops_in), strict=True):
            np.testing.assert_allclose(mine, np.asarray(keras), atol=1e-5)


@pytest.mark.slow
def test_resampling_is_tensorflows() -> None:
    import tensorflow as tf

    image = ((noise(160, 120).astype(np.float32) - 127.5) / 128).astype(np.float32)
    for height, width in ((72, 96), (51, 68), (12, 17)):  # the pyramid's shrinks: area
        expected = tf.image.resize(image[None], (height, width), method="area").numpy()[0]
        np.testing.assert_allclose(area_resize(image, height, width), expected, atol=1e-5)
    # Boxes inside, across the edge (zeros outside) and under a pixel wide: crop_and_resize's sampling.
    boxes = np.array([[10.3, 20.7, 50.1, 60.5], [-5.5, -3.2, 40.0, 41.3], [150.2, 100.1, 170.9, 130.8]])
    boxes = np.hstack([boxes, np.ones((3, 1))])
    fractions = boxes[:, [1, 0, 3, 2]] / np.array([120, 160, 120, 160])
    for side in (24, 48):
        expected = tf.image.crop_and_resize(image[None], fractions, np.zeros(3, int), (side, side)).numpy()
        np.testing.assert_allclose(crops(image, boxes, side), expected, atol=1e-5)


def test_nothing_is_found_on_tiny_or_faceless_images(cascade) -> None:
    assert face_cascade.pyramid_scales(20, 400).size == 0  # under 21 px a side: no pyramid at all
    for array in (noise(11, 13), noise(20, 300), noise(21, 21), np.full((480, 640, 3), 255, np.uint8)):
        assert cascade.detect_faces(array) == []
    assert cascade.detect_faces(noise(640, 480), threshold_onet=0.9) == []
    assert detect_at(Image.new("RGB", (11, 11)), 76_800, 0.9) == []
    assert detect(Image.fromarray(noise(640, 480))) == []


@pytest.mark.slow
def test_detection_never_imports_tensorflow() -> None:
    """A server of an ONNX export finds faces with onnxruntime alone: neither TensorFlow nor the
    `mtcnn` package (whose `__init__` imports it) is loaded by a detection."""
    from conftest import WEB_EMOTIONS

    path = WEB_EMOTIONS / PHOTOS[0]
    script = (
        "import json, sys\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from emotion_pipeline.data import faces\n"
        "import os\n"
        "from emotion_pipeline.data.images import load_photo\n"
        f"path = {str(path)!r}\n"
        "image = load_photo(path).image if os.path.isfile(path) else Image.new('RGB', (640, 480))\n"
        "found = faces.detect(image)\n"
        "watched = ('tensorflow', 'keras', 'mtcnn', 'cv2', 'onnxruntime')\n"
        "loaded = sorted(m for m in watched if m in sys.modules)\n"
        "print(json.dumps({'faces': len(found), 'photo': os.path.isfile(path), 'loaded': loaded}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["loaded"] == ["onnxruntime"]
    assert result["faces"] == (1 if result["photo"] else 0)
