"""Faces in photos: find every face and frame each one as the model sees it.

One module for the faces stage, the CLI and the web app, so that training and serving crop alike.
MTCNN looks for faces on a copy of at most 320 x 240 pixels' worth, then at 640 x 480 and 1024 x 768
only where the smaller look found none: by pixel count, not by longest side, so a 10,000 x 300
panorama keeps faces big enough to find, and a 20-Mpx photo costs what a small one does. MTCNN is the
`mtcnn` package's, rebuilt without TensorFlow (`face_cascade`, `face_nets`: its weights, its steps, its
answers): its networks run in onnxruntime, so a server of an ONNX or TFLite export never loads
TensorFlow (`bench/face_detectors.py` compares detectors and looks).
Boxes come back in the original's pixels; each face becomes a square crop around it, shifted
to lie inside the image, never padded (FER2013 has no black bars); with `align`, the square is first
turned about the face's centre so that MTCNN's two eye keypoints are level, as FER2013's faces are
upright. Detection is deterministic, and one detector serves every thread. Its networks are built
when the first face is looked for.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageStat

from emotion_pipeline.core.tables import read_json
from emotion_pipeline.data.face_cascade import ONET_THRESHOLD, WINDOW, FaceCascade
from emotion_pipeline.data.images import Box, load_image, load_photo, to_array

MIN_CONFIDENCE = 0.9  # MTCNN's 0.8-0.9 band is half hair, hands and textures on web photos
MARGIN = 0.1  # FER2013's framing: its faces fill the 48 px frame about as MTCNN's boxes are tall
# The detection copies' sizes, smallest first: each look is only taken where the ones before found
# nothing, so a photo with a face of a usual size pays for the cheapest (time grows with the pixels).
LOOKS = (320 * 240, 640 * 480, 1024 * 768)
# A video frame's looks: the second only on every other frame where the first finds no face (the
# frames between are retried by the next one, 0.2 s later), so a clip costs about the first look's time.
FRAME_LOOKS = (320 * 240, 640 * 480)
CROP_SIDE = 1024  # crops are kept at most this wide: the largest image_size the params allow
MAX_FACES = 24  # faces classified per image, largest first: a crowd costs at most this many model calls
NO_FACE = "no face found"  # the reason an image is skipped, and the CLI's row for it
EYES = ("left_eye", "right_eye")  # MTCNN's keypoints that `align` levels
SETTINGS_FILE = "settings.json"  # beside the faces stage's split lists: the framing they were cut with


@dataclass(frozen=True)
class FaceSettings:
    """How a model's images are framed, from `faces.*` in params.yaml: saved inside the model, so
    evaluation, the CLI and the web app crop as training did."""

    min_confidence: float = MIN_CONFIDENCE
    margin: float = MARGIN
    fallback: Literal["whole", "skip"] = "whole"  # no face found: the whole image, or no answer
    align: bool = False  # turn each face so its eyes are level before the crop

    def turn(self, face: Face) -> float:
        """Degrees (clockwise as shown: image rows run down) that the line through the face's eyes
        leans, which its aligned crop undoes; 0 without `align`."""
        if not self.align or face.eyes is None:
            return 0.0
        (x0, y0), (x1, y1) = face.eyes
        return math.degrees(math.atan2(y1 - y0, x1 - x0))

    def crop(self, image: Image.Image, face: Face) -> Image.Image:
        """A face's square crop framed by these settings: what training and serving alike classify."""
        return crop(image, face.box, self.margin, self.turn(face))


def settings_from(config: Mapping[str, Any]) -> FaceSettings | None:
    """The settings in a `faces` params section, a settings file or a model; None: whole images. A
    model saved before `align` existed cropped without turning, and still does."""
    if not config.get("detect"):
        return None
    return FaceSettings(
        float(config["min_confidence"]),
        float(config["margin"]),
        config["fallback"],
        bool(config.get("align", False)),
    )


def settings_config(settings: FaceSettings | None) -> dict[str, Any]:
    """The JSON form. Off is `{"detect": false}` alone, so changing a margin while detection is off
    changes nothing that later stages read."""
    return {"detect": False} if settings is None else {"detect": True, **asdict(settings)}


def read_settings(split_dir: str | Path) -> FaceSettings | None:
    """The framing of a folder of split lists: the faces stage's settings file; none in the split
    stage's own folder, whose lists are whole images."""
    path = Path(split_dir) / SETTINGS_FILE
    return settings_from(read_json(path)) if path.is_file() else None


Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """A face found: its box in the image's pixels, MTCNN's confidence, and its eyes (the one on the
    image's left first) in the same pixels, where known."""

    box: Box
    confidence: float
    eyes: tuple[Point, Point] | None = None


_detector: Any = None
_detector_lock = threading.Lock()


def _mtcnn() -> Any:
    """The one MTCNN of the process, built on first use. Building takes the lock; detecting does not:
    `detect_faces` keeps its state in local variables and onnxruntime's sessions are thread-safe, so
    threads share the detector safely."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = FaceCascade()
    return _detector


def detect(
    image: Image.Image, min_confidence: float = MIN_CONFIDENCE, looks: tuple[int, ...] = LOOKS
) -> list[Face]:
    """Faces in an RGB image, largest first (ties by position), boxes in the image's pixels.

    A look on a copy of each of `looks`' sizes in turn, until one finds a face or the copy would be
    the image itself.
    """
    for pixels in looks:
        faces = detect_at(image, pixels, min_confidence)
        if faces or image.width * image.height <= pixels:
            break
    return faces


def scaled_copy(image: Image.Image, pixels: int) -> Image.Image:
    """A copy of at most `pixels` pixels, the image's shape kept (never enlarged): a detection copy."""
    scale = min(1.0, math.sqrt(pixels / (image.width * image.height)))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def detect_at(image: Image.Image, pixels: int, min_confidence: float) -> list[Face]:
    """Faces found on a copy of the image of at most `pixels` pixels, boxes in the image's pixels.

    MTCNN wants uint8 RGB: floats in 0-1 find nothing, silently. Its smallest face stays the
    package's 20 px of the copy (larger, the package found nothing at all); the detection copy's size
    sets the smallest face in the image.
    """
    width, height = image.size
    small = scaled_copy(image, pixels)
    if min(small.size) < WINDOW:  # P-Net's input: a smaller copy holds no face it finds
        return []
    found = _mtcnn().detect_faces(
        np.asarray(small, dtype=np.uint8),
        threshold_onet=min(ONET_THRESHOLD, min_confidence),  # lower only
    )
    sx, sy = width / small.width, height / small.height
    faces = []
    for face in found:
        x0, y0, x1, y1 = face["box"]  # inclusive corners, clamped to the detection copy
        box = (
            round(x0 * sx),
            round(y0 * sy),
            min(width, round((x1 + 1) * sx)),
            min(height, round((y1 + 1) * sy)),
        )
        confidence = float(face["confidence"])  # NumPy's float64: not JSON
        eyes = sorted((float(x) * sx, float(y) * sy) for x, y in (face["keypoints"][k] for k in EYES))
        if confidence >= min_confidence and box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            faces.append(Face(box, confidence, (eyes[0], eyes[1])))
    return sorted(faces, key=lambda f: (-(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), f.box))


def crop_box(box: Box, width: int, height: int, margin: float = MARGIN) -> Box:
    """The square the model sees around a face: side max(w, h) x (1 + 2 x margin) on the face's
    centre, shifted to lie inside the image; smaller only where the image is smaller than that."""
    x0, y0, x1, y1 = box
    side = max(1, round(min(max(x1 - x0, y1 - y0) * (1 + 2 * margin), width, height)))
    left = min(max(round((x0 + x1 - side) / 2), 0), width - side)
    top = min(max(round((y0 + y1 - side) / 2), 0), height - side)
    return left, top, left + side, top + side


def crop(image: Image.Image, box: Box, margin: float, turn: float = 0.0) -> Image.Image:
    """A face's square crop, at most CROP_SIDE wide: what the faces stage saves and serving classifies.
    With a `turn` (degrees, `FaceSettings.turn`), the square is turned about its centre by it: a face
    leaning that way comes out upright."""
    square = crop_box(box, image.width, image.height, margin)
    side = square[2] - square[0]
    if not turn:
        cropped = image.crop(square)
        if side <= CROP_SIDE:
            return cropped
        return cropped.resize((CROP_SIDE, CROP_SIDE), Image.Resampling.BILINEAR)
    angle = math.radians(turn)
    out = min(side, CROP_SIDE)
    step = side / out  # source pixels per output pixel
    cos, sin = step * math.cos(angle), step * math.sin(angle)
    cx, cy = (square[0] + square[2]) / 2, (square[1] + square[3]) / 2
    half = out / 2
    # One affine map from each output pixel to the image: turning and shrinking in one resampling.
    # Corners turned outside the image take the square's mean colour, not black bars.
    fill = tuple(round(v) for v in ImageStat.Stat(image.crop(square)).mean)
    return image.transform(
        (out, out),
        Image.Transform.AFFINE,
        (cos, -sin, cx - half * (cos - sin), sin, cos, cy - half * (sin + cos)),
        Image.Resampling.BILINEAR,
        fillcolor=fill,
    )


def original_box(box: Box, scale: float) -> Box:
    """A box in the original image's pixels, from the decoded photo's (the same unless it was shrunk)."""
    return (round(box[0] * scale), round(box[1] * scale), round(box[2] * scale), round(box[3] * scale))


@dataclass(frozen=True)
class Framed:
    """An image as the model sees it. `inputs` holds one row per face in `faces` (largest first, at
    most MAX_FACES), or one row for the whole image (detection off, or no face under `whole`), or
    none (no face under `skip`). The first row, if any, answers for the image."""

    inputs: np.ndarray  # (n, size, size, 3) uint8
    faces: list[Face]  # boxes in the original image's pixels
    squares: list[Box] = field(default_factory=list)  # the square each face's row shows, same pixels
    turns: list[float] = field(default_factory=list)  # and how far it was turned (`FaceSettings.turn`)


def frame(
    source: Path | str | bytes, size: int, settings: FaceSettings | None, deadline: float | None = None
) -> Framed:
    """Frame a file or upload for a model of input `size`, as the faces stage framed its training data:
    the same crops, and the whole image through `load_image`, the split lists' way."""
    if settings is None:
        return Framed(load_image(source, size, deadline)[None], [])
    photo = load_photo(source, deadline)
    framed = _faces_framed(photo.image, photo.scale, size, settings)
    if framed is None and settings.fallback == "whole":
        return Framed(load_image(source, size, deadline)[None], [])
    return framed or _nothing(size)


def frame_picture(
    image: Image.Image, size: int, settings: FaceSettings | None, scale: float = 1.0, retry: bool = True
) -> Framed:
    """Frame a decoded RGB picture (a video frame) as `frame` frames a file, boxes in pixels of a
    picture `scale` times as wide; the whole picture resized as `load_image` resizes (`to_array`).
    Detection takes FRAME_LOOKS' first look, and the second where the first finds none and `retry`
    is set: frames come several a second, and the still images' three looks would triple the cost of
    every frame without a face."""
    looks = FRAME_LOOKS if retry else FRAME_LOOKS[:1]
    framed = None if settings is None else _faces_framed(image, scale, size, settings, looks)
    if framed is None and (settings is None or settings.fallback == "whole"):
        return Framed(to_array(image, size)[None], [])
    return framed or _nothing(size)


def _faces_framed(
    image: Image.Image, scale: float, size: int, settings: FaceSettings, looks: tuple[int, ...] = LOOKS
) -> Framed | None:
    """Each face found in a picture, framed; None where there is none."""
    faces = detect(image, settings.min_confidence, looks)[:MAX_FACES]
    if not faces:
        return None
    crops = [to_array(settings.crop(image, face), size) for face in faces]
    found = [Face(original_box(face.box, scale), face.confidence) for face in faces]
    width, height = image.size
    squares = [original_box(crop_box(face.box, width, height, settings.margin), scale) for face in faces]
    return Framed(np.stack(crops), found, squares, [settings.turn(face) for face in faces])


def _nothing(size: int) -> Framed:
    """No row at all: no face found, and the model skips such images."""
    return Framed(np.zeros((0, size, size, 3), dtype=np.uint8), [])


def warm_up() -> None:
    """Build the detector and run it once, so a server's first request does not pay for either."""
    detect(Image.new("RGB", (640, 480), (128, 128, 128)))
