"""Grad-CAM's time per image against one plain prediction, on the same loaded model.

Without --model it saves and loads a 224-px VGG16 classifier with random weights (the cost does not
depend on the weights). Both paths are warmed up first (each traces once), then timed one image at a
time, alternating, as the web app calls them; medians are printed, and the ratio.

    python bench/gradcam.py --repeats 20
    python bench/gradcam.py --model models/model.keras
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from random_model import random_classifier

from emotion_pipeline.serving.explain import GradCam
from emotion_pipeline.serving.predict import Classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved classifier (default: random VGG16 at 224 px)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        classifier = Classifier(args.model or random_classifier(Path(folder) / "model.keras", 224))
    gradcam = GradCam(classifier.model)
    size = classifier.image_size
    images = np.random.default_rng(0).integers(0, 256, (args.repeats, 1, size, size, 3), dtype=np.uint8)
    calls = {"predict": classifier.predict_arrays, "gradcam": gradcam}
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call(images[0])  # trace and warm up
    for image in images:
        for name, call in calls.items():
            start = time.perf_counter()
            call(image)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"model: {args.model or 'random VGG16'} at {size} px, {args.repeats} images, one at a time")
    for name, value in median.items():
        print(f"{name:8s} median {value * 1000:7.1f} ms")
    print(f"ratio    {median['gradcam'] / median['predict']:.2f}x (Grad-CAM per image / one prediction)")


if __name__ == "__main__":
    main()
