"""Benchmark: face detectors side by side on one folder of photos, found and time.

Each detector looks at every readable image of `--data` (the faces stage's way: the original image)
and at a 1-megapixel copy of it (what a web upload costs), and the table gives, per detector, the
images where it found at least one face and the detection time per 1-MP photo (p50 over the photos
where it found one, p50 over all, p90 over all). The detectors:
- MTCNN through a ladder of detection copies (pixels): a look at the first size, the next only where
  nothing was found; the faces module's own ladder is marked `(faces module)`;
- OpenCV's Haar cascade for frontal faces (its weights ship in the `opencv-python-headless` 4.x
  wheel), on a grey copy of 640 x 480 pixels' worth, where OpenCV is installed (not a dependency:
  `pip install "opencv-python-headless<5"`; 5.x ships no cascades).
    python bench/face_detectors.py --data ../shared/datasets/web-emotions
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from emotion_pipeline.core.environment import machine
from emotion_pipeline.data import faces
from emotion_pipeline.data.folders import find_images
from emotion_pipeline.data.images import ImageError, load_photo

ONE_MEGAPIXEL = 1_000_000
LADDERS = (  # pixels of each look, smallest first
    faces.LOOKS,
    (640 * 480, 1024 * 768),
    (400 * 300, 640 * 480, 1024 * 768),
    (480 * 360, 1024 * 768),
)
HAAR_PIXELS = 640 * 480

Detector = Callable[[Image.Image], int]  # an RGB image -> how many faces were found


def mtcnn_ladder(ladder: tuple[int, ...]) -> Detector:
    def count(image: Image.Image) -> int:
        return len(faces.detect(image, faces.MIN_CONFIDENCE, ladder))

    return count


def haar_cascade() -> Detector | None:
    try:
        import cv2
    except ImportError:
        return None
    files = Path(cv2.data.haarcascades)
    if not (files / "haarcascade_frontalface_default.xml").is_file():
        return None
    cascade = cv2.CascadeClassifier(str(files / "haarcascade_frontalface_default.xml"))

    def count(image: Image.Image) -> int:
        grey = np.asarray(faces.scaled_copy(image, HAAR_PIXELS).convert("L"))
        return len(cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)))

    return count


def measure(name: str, detector: Detector, photos: list[tuple[Image.Image, Image.Image]]) -> str:
    found, with_face, every = 0, [], []
    for original, megapixel in photos:
        found += detector(original) > 0
        started = time.perf_counter()
        seen = detector(megapixel)
        seconds = (time.perf_counter() - started) * 1000
        every.append(seconds)
        if seen:
            with_face.append(seconds)
    face_p50 = f"{np.percentile(with_face, 50):.0f}" if with_face else "-"
    return (
        f"| {name} | {found} of {len(photos)} ({found / len(photos):.0%}) | {face_p50} | "
        f"{np.percentile(every, 50):.0f} | {np.percentile(every, 90):.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="a folder of class folders of photos")
    args = parser.parse_args()
    photos = []
    candidates, _ = find_images(args.data)
    for candidate in candidates:
        try:
            image = load_photo(candidate.path).image
        except ImageError:
            continue
        photos.append((image, faces.scaled_copy(image, ONE_MEGAPIXEL)))
    faces.warm_up()
    detectors: list[tuple[str, Detector | None]] = [
        (
            " then ".join(f"{round(math.sqrt(p * 4 / 3))}x{round(math.sqrt(p * 3 / 4))}" for p in ladder)
            + (" (faces module)" if ladder == faces.LOOKS else ""),
            mtcnn_ladder(ladder),
        )
        for ladder in LADDERS
    ]
    detectors = [(f"MTCNN {name}", detector) for name, detector in detectors]
    detectors.append(("OpenCV Haar cascade (frontal, 640x480)", haar_cascade()))
    print(f"{args.data}: {len(photos)} readable images; {machine()}, {date.today()}")
    print("Times per 1-megapixel copy, in ms.\n")
    print("| detector | images with a face | p50 where found | p50 | p90 |")
    print("| --- | --- | --- | --- | --- |")
    for name, detector in detectors:
        print(measure(name, detector, photos) if detector else f"| {name} | not installed | | | |")


if __name__ == "__main__":
    main()
