"""MTCNN's detection steps in NumPy around its networks (`face_nets`): the faces, boxes, confidences
and keypoints that the `mtcnn` package's (1.0) `MTCNN(stages="face_and_landmarks_detection")
.detect_faces(image, box_format="xyxy")` returns, without TensorFlow.

Every face crop the models were trained on came from that package, so this follows its steps to the
letter, its quirks included, rather than the MTCNN paper's or another port's: the pyramid's scales and
their truncated sizes, TensorFlow's area resize (not bilinear) for the pyramid, P-Net's windows every
2 px placed 1 px in and 11 px wide, a suppression that drops a box overlapped by any better one (even
one dropped itself), TensorFlow's `crop_and_resize` sampling (corner-aligned, zeros outside the image)
for R- and O-Net's crops, box sizes with and without the +1, landmarks placed on O-Net's input square,
and the final clamp of boxes (not landmarks) into the image. `tests/data/test_face_nets.py` holds it
to the package.
"""

from __future__ import annotations

import numpy as np

from emotion_pipeline.data.face_nets import THREADS, networks

MIN_FACE = 20  # pixels: the package's min_face_size; the pyramid's first scale shrinks it to one window
WINDOW = 12  # P-Net's input side: the face size it finds at each scale
STRIDE = 2  # pixels between P-Net's windows
SCALE_STEP = 0.709  # each pyramid level's size over the one before (half the area)
PNET_THRESHOLD, RNET_THRESHOLD, ONET_THRESHOLD = 0.6, 0.7, 0.8  # the face probability each stage wants
PNET_OVERLAP_PER_SCALE, PNET_OVERLAP, RNET_OVERLAP, ONET_OVERLAP = 0.5, 0.7, 0.7, 0.7  # suppression
RNET_SIDE, ONET_SIDE = 24, 48
KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # O-Net's landmark order
SUPPRESSION_ROWS = 512  # boxes compared with all others at once: bounds the memory of the overlap matrix

# Boxes travel as float64 rows (x0, y0, x1, y1, score), best first once sorted, as the package keeps them.
X0, Y0, X1, Y1, SCORE = range(5)


class FaceCascade:
    """The three networks and the steps between them. Detection keeps its state in local variables and
    onnxruntime's sessions are thread-safe, so one instance serves every thread."""

    def __init__(self, threads: int = THREADS) -> None:
        self.pnet, self.rnet, self.onet = networks(threads)

    def detect_faces(self, image: np.ndarray, threshold_onet: float = ONET_THRESHOLD) -> list[dict]:
        """Faces in a uint8 RGB array (height, width, 3), best first, as the package's dicts: "box"
        [x0, y0, x1, y1] (inclusive corners, clamped to the image), "confidence" and "keypoints" (name:
        [x, y]), all pixels rounded to integers."""
        height, width = image.shape[:2]
        pixels = (image.astype(np.float32) - 127.5) / 128  # exact in float32, as the package scales
        boxes = self._proposals(pixels)
        if len(boxes):
            boxes = self._refined(pixels, boxes)
        if not len(boxes):
            return []
        boxes, landmarks = self._final(pixels, boxes, threshold_onet)
        boxes[:, [X0, X1]] = np.clip(boxes[:, [X0, X1]], 0, width - 1)
        boxes[:, [Y0, Y1]] = np.clip(boxes[:, [Y0, Y1]], 0, height - 1)
        corners, marks = np.round(boxes[:, :4]).astype(int), np.round(landmarks).astype(int)
        return [
            {
                "box": corners[n].tolist(),
                "confidence": float(boxes[n, SCORE]),
                "keypoints": {
                    name: [int(x), int(y)]
                    for name, x, y in zip(KEYPOINTS, *marks[n].reshape(2, 5), strict=True)
                },
            }
            for n in range(len(boxes))
        ]

    def _proposals(self, pixels: np.ndarray) -> np.ndarray:
        """P-Net's candidate squares over the image pyramid, in the image's pixels."""
        height, width = pixels.shape[:2]
        found = []
        for scale in pyramid_scales(width, height):
            # The package hands TensorFlow a fractional size, which it truncates.
            level_height, level_width = (np.array([height, width]) * scale).astype(int)
            level = area_resize(pixels, level_height, level_width)
            out = self.pnet.run(level[None])
            face, offsets = out["face"][0, 1], out["regression"][0]
            rows, cols = np.nonzero(face > PNET_THRESHOLD)
            # The package's window at (row, col) spans 2 col + 1 to 2 col + 12 (11 px), and so on down.
            shift = offsets[:, rows, cols].T.astype(np.float64) * (WINDOW - 1)
            left, top = cols * STRIDE + 1, rows * STRIDE + 1
            right, bottom = left + WINDOW - 1, top + WINDOW - 1
            boxes = np.stack([left, top, right, bottom, face[rows, cols].astype(np.float64)], axis=1)
            boxes[:, :4] += shift
            boxes = by_score(boxes)
            boxes[:, :4] /= scale
            found.append(suppress(boxes, PNET_OVERLAP_PER_SCALE))
        if not found:
            return np.empty((0, 5))
        return squared(suppress(by_score(np.concatenate(found)), PNET_OVERLAP))

    def _refined(self, pixels: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net's verdict on P-Net's squares: rescored, moved, thresholded, suppressed, squared."""
        out = self.rnet.run(crops(pixels, boxes, RNET_SIDE))
        boxes = shifted(boxes, out["regression"])
        boxes[:, SCORE] = out["face"][:, 1]
        boxes = boxes[boxes[:, SCORE] > RNET_THRESHOLD]
        return squared(suppress(by_score(boxes), RNET_OVERLAP))

    def _final(
        self, pixels: np.ndarray, boxes: np.ndarray, threshold: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """O-Net's faces and their five landmarks (five x then five y), suppressed by the smaller box."""
        out = self.onet.run(crops(pixels, boxes, ONET_SIDE))
        # Landmarks are fractions of O-Net's input square (sides counted with the +1), kept in float32.
        sides = boxes[:, [X1, Y1]] - boxes[:, [X0, Y0]] + 1
        marks = out["landmarks"].astype(np.float64)
        marks[:, :5] = sides[:, :1] * marks[:, :5] + boxes[:, X0, None] - 1
        marks[:, 5:] = sides[:, 1:] * marks[:, 5:] + boxes[:, Y0, None] - 1
        boxes = shifted(boxes, out["regression"])
        boxes[:, SCORE] = out["face"][:, 1]
        rows = np.hstack([boxes, marks.astype(np.float32)])
        rows = rows[rows[:, SCORE] > threshold]
        rows = suppress(by_score(rows), ONET_OVERLAP, by_smaller=True)
        return rows[:, :5], rows[:, 5:]


def pyramid_scales(width: int, height: int) -> np.ndarray:
    """The package's scales: the first maps MIN_FACE onto P-Net's window, each next SCALE_STEP times
    smaller, as many as its formula gives (none for a side of 20 px or less)."""
    levels = round(-(np.log(min(width, height) / WINDOW) / np.log(SCALE_STEP) + 1))
    return (WINDOW / MIN_FACE) * SCALE_STEP ** np.arange(levels)


def _area_taps(size: int, new_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output pixel along one axis, the input pixels it covers and their weights: the share of
    each input pixel inside the output pixel's span, over the span (TensorFlow's area resize)."""
    step = np.float32(size) / np.float32(new_size)
    starts = np.arange(new_size, dtype=np.float32) * step
    ends = np.arange(1, new_size + 1, dtype=np.float32) * step
    firsts, lasts = np.floor(starts).astype(int), np.ceil(ends).astype(int)
    cells = firsts[:, None] + np.arange((lasts - firsts).max())
    shares = np.minimum(cells + 1, ends[:, None]) - np.maximum(cells, starts[:, None])
    shares = np.where(cells < lasts[:, None], shares, 0) / step
    return np.minimum(cells, size - 1), shares.astype(np.float32)


def _area_resize_rows(image: np.ndarray, new_size: int) -> np.ndarray:
    """`area_resize` along the first axis: a weighted sum of a few shifted copies (rows gathered whole)."""
    cells, shares = _area_taps(image.shape[0], new_size)
    resized = shares[:, 0, None, None] * image[cells[:, 0]]
    for tap in range(1, cells.shape[1]):
        resized += shares[:, tap, None, None] * image[cells[:, tap]]
    return resized


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`tf.image.resize(image, (height, width), method="area")` of a (h, w, c) float32 image, shrinking:
    each output pixel the mean of the input area it covers, fractions of pixels weighted."""
    tall = _area_resize_rows(image, height)
    return _area_resize_rows(np.ascontiguousarray(tall.swapaxes(0, 1)), width).swapaxes(0, 1)


def crops(pixels: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """Each box's square of the image resampled to side x side, as TensorFlow's bilinear
    `crop_and_resize` samples it: the box's corners, as fractions of the image (float32), map onto
    pixel centres 0 and size - 1; samples outside the image are 0 (mid-grey here)."""
    height, width = pixels.shape[:2]
    grid = np.arange(side, dtype=np.float32)

    def samples(low: np.ndarray, high: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
        low, high = (low / size).astype(np.float32), (high / size).astype(np.float32)
        at = low[:, None] * (size - 1) + grid * ((high - low) * (size - 1) / (side - 1))[:, None]
        inside = (at >= 0) & (at <= size - 1)
        before = np.floor(at)
        weight = (at - before)[..., None]
        before = np.clip(before, 0, size - 1).astype(int)
        return before, np.clip(np.ceil(at), 0, size - 1).astype(int), weight, inside

    top, bottom, down, rows_inside = samples(boxes[:, Y0], boxes[:, Y1], height)
    left, right, across, cols_inside = samples(boxes[:, X0], boxes[:, X1], width)
    top, bottom, left, right = top[:, :, None], bottom[:, :, None], left[:, None], right[:, None]
    top_left, top_right = pixels[top, left], pixels[top, right]
    bottom_left, bottom_right = pixels[bottom, left], pixels[bottom, right]
    upper = top_left + (top_right - top_left) * across[:, None]
    lower = bottom_left + (bottom_right - bottom_left) * across[:, None]
    resampled = upper + (lower - upper) * down[:, :, None]
    resampled[~(rows_inside[:, :, None] & cols_inside[:, None])] = 0
    return resampled


def by_score(boxes: np.ndarray) -> np.ndarray:
    """Best first, ties in NumPy's default sort's order reversed, as the package sorts."""
    return boxes[np.argsort(boxes[:, SCORE])[::-1]]


def suppress(boxes: np.ndarray, threshold: float, by_smaller: bool = False) -> np.ndarray:
    """The boxes (best first) that no better box overlaps by more than `threshold`: intersection over
    union, or over the smaller box. Unlike greedy NMS, a box overlapped by a dropped box is dropped too:
    the package compares every pair."""
    x0, y0, x1, y1 = boxes[:, X0], boxes[:, Y0], boxes[:, X1], boxes[:, Y1]
    areas = (x1 - x0) * (y1 - y0)  # no +1 here
    beaten = np.zeros(len(boxes), bool)
    for start in range(0, len(boxes), SUPPRESSION_ROWS):
        rows = slice(start, start + SUPPRESSION_ROWS)
        across = np.maximum(0, np.minimum(x1[rows, None], x1) - np.maximum(x0[rows, None], x0))
        down = np.maximum(0, np.minimum(y1[rows, None], y1) - np.maximum(y0[rows, None], y0))
        shared = across * down
        whole = np.minimum(areas[rows, None], areas) if by_smaller else areas[rows, None] + areas - shared
        with np.errstate(divide="ignore", invalid="ignore"):
            overlapping = shared / whole > threshold  # 0 / 0 is NaN: not overlapping
        later = np.arange(len(boxes)) > np.arange(start, start + overlapping.shape[0])[:, None]
        beaten |= (overlapping & later).any(axis=0)
    return boxes[~beaten]


def squared(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square on its centre, side its longer one (no +1)."""
    boxes = boxes.copy()
    width, height = boxes[:, X1] - boxes[:, X0], boxes[:, Y1] - boxes[:, Y0]
    side = np.maximum(width, height)
    boxes[:, X0] = boxes[:, X0] + width * 0.5 - side * 0.5
    boxes[:, Y0] = boxes[:, Y0] + height * 0.5 - side * 0.5
    boxes[:, X1], boxes[:, Y1] = boxes[:, X0] + side, boxes[:, Y0] + side
    return boxes


def shifted(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Corners moved by a network's regression, in fractions of the box's sides (counted with the +1)."""
    boxes = boxes.copy()
    sides = boxes[:, [X1, Y1]] - boxes[:, [X0, Y0]] + 1
    boxes[:, :4] += offsets * np.hstack([sides, sides])
    return boxes
