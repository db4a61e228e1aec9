"""The classifier in each format side by side: Keras, ONNX Runtime and LiteRT (TFLite), float32 and int8.

Exports the model (`model/export.py`; int8 calibrated on `--split-dir`'s val.csv, or on smooth random
images), then per format: file size, per-image latency p50/p95 (one image a call), images/s (batches
of `--batch`), agreement with Keras (top class, largest probability difference), and, as a real
`emotion serve` process, its start-up time (to the first /healthz answer), `/api/predict` p50 for a
224-px JPEG, and its resident memory after those requests. With `--photo`, the random model looks
for faces (the default face settings) and each server also answers that photo, resized to 1200 x 830
(1 megapixel) as a JPEG (`random_model.one_megapixel_jpeg`): p50 with face detection included.

    python bench/export_speed.py --model models/model.keras --split-dir data/faces
    python bench/export_speed.py --size 64   # a random VGG16 at 64 px
    PHOTO=../shared/datasets/web-emotions/Angry/Angry-Customer.jpg
    python bench/export_speed.py --recipe fer2013 --photo $PHOTO
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from random_model import one_megapixel_jpeg, random_classifier
from serve_latency import free_port, jpeg_224, multipart, timed_predict, wait_until_ready

from emotion_pipeline.core.recipes import CONF, compose
from emotion_pipeline.model.export import calibration_rows, export_model
from emotion_pipeline.model.network import load_classifier
from emotion_pipeline.serving.predict import Classifier

HOST = "127.0.0.1"
COLUMNS = ("format", "MiB", "p50 ms", "p95 ms", "images/s", "top-1 as Keras", "max Δp")
COLUMNS += ("serve start s", "/api/predict p50 ms", "serve RSS MiB")
PHOTO_COLUMN = "1-MP photo p50 ms"


def smooth_images(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour fields: photo-like pixel statistics, unlike uniform noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)
    return np.stack(
        [np.asarray(Image.fromarray(s).resize((size, size), Image.Resampling.BICUBIC)) for s in small]
    )


def timings(classifier: Classifier, images: np.ndarray, batch: int) -> tuple[float, float, float]:
    """Per-image p50 and p95 in ms (one image a call), and images/s in batches of `batch`."""
    classifier.predict_arrays(images[:2], 1)  # warm up: first calls allocate and trace
    per_image = []
    for image in images:
        started = time.perf_counter()
        classifier.predict_arrays(image[None], 1)
        per_image.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    classifier.predict_arrays(images, batch)
    rate = len(images) / (time.perf_counter() - started)
    p50, p95 = np.percentile(per_image, [50, 95])
    return float(p50), float(p95), rate


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def served(model: Path, requests: int, photo: bytes | None) -> list[float]:
    """`emotion serve --model`: seconds to the first /healthz answer, /api/predict p50 (ms) for the
    224-px JPEG and, with a `photo`, for it, and the server's RSS (MiB) after them."""
    port = free_port()
    command = [sys.executable, "-m", "emotion_pipeline.serving.cli", "serve", "--model", str(model)]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen([*command, "--host", HOST, "--port", str(port)], stdout=log, stderr=log)
        try:
            wait_until_ready(server, port, 300)
            figures = [time.perf_counter() - started]
            uploads = [("bench.jpg", jpeg_224())] + ([("photo.jpg", photo)] if photo else [])
            for name, data in uploads:
                body, content_type = multipart("file", name, data, "image/jpeg")
                for _ in range(3):
                    timed_predict(port, body, content_type)
                times = [timed_predict(port, body, content_type) * 1000 for _ in range(requests)]
                figures.append(float(np.median(times)))
            return [*figures, rss_mib(server.pid)]
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved classifier (default: random VGG16 at --size)")
    parser.add_argument("--size", type=int, default=224, help="the random model's input size")
    parser.add_argument("--recipe", help="the random model takes this recipe's network and input size")
    parser.add_argument("--split-dir", type=Path, help="split lists: val.csv calibrates int8")
    parser.add_argument("--calibration", type=int, default=32, help="calibration images")
    parser.add_argument("--images", type=int, default=30, help="timed images")
    parser.add_argument("--batch", type=int, default=16, help="images per call for images/s")
    parser.add_argument("--requests", type=int, default=20, help="timed /api/predict requests per server")
    parser.add_argument("--photo", type=Path, help="a face photo: served at 1 MP, detection included")
    args = parser.parse_args()
    photo = one_megapixel_jpeg(args.photo) if args.photo else None
    columns = COLUMNS + ((PHOTO_COLUMN,) if photo else ())
    with tempfile.TemporaryDirectory() as folder:
        recipe = compose(CONF, args.recipe) if args.recipe else {"image_size": args.size, "model": {}}
        keras_path = args.model or random_classifier(
            Path(folder) / "model.keras", recipe["image_size"], bool(photo), recipe["model"]
        )
        model, _, size = load_classifier(keras_path)
        if args.split_dir:
            rows = calibration_rows(args.split_dir / "val.csv", size, args.calibration)
        else:
            rows = smooth_images(args.calibration, size, seed=1)
        started = time.perf_counter()
        paths = [Path(keras_path), *export_model(model, folder, rows)]
        print(f"export: {time.perf_counter() - started:.1f} s; {'' if args.model else 'random '}{keras_path}")
        images = smooth_images(args.images, size)
        reference = None
        print(f"| {' | '.join(columns)} |\n|{'---|' * len(columns)}")
        for path in paths:
            classifier = Classifier(path)
            p50, p95, rate = timings(classifier, images, args.batch)
            answers = classifier.predict_arrays(images, args.batch)
            reference = answers if reference is None else reference
            agree, delta = (
                (answers.argmax(1) == reference.argmax(1)).mean(),
                np.abs(answers - reference).max(),
            )
            startup, latency, *photo_latency, rss = served(path, args.requests, photo)
            cells = [f"{path.stat().st_size / 2**20:.1f}", f"{p50:.1f}", f"{p95:.1f}", f"{rate:.1f}"]
            cells += [f"{agree:.0%}", f"{delta:.1e}", f"{startup:.1f}", f"{latency:.1f}", f"{rss:.0f}"]
            cells += [f"{ms:.0f}" for ms in photo_latency]
            print(f"| {path.name} | {' | '.join(cells)} |")
            del classifier
    return 0


if __name__ == "__main__":
    sys.exit(main())
