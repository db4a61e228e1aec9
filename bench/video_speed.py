"""Benchmark: `emotion predict clip.mp4`'s work on a 60-second 720p clip sampled at 5 frames a second.

Makes the clip (the synthetic faces gliding and changing expression, H.264 at 30 fps; or, with
`--photo`, a real photo panning across the frame, so MTCNN finds faces), builds an untrained VGG16
classifier at the params' input size (the trained model's cost, without training one) that looks
for faces, then times decoding alone (every frame decoded, the sampled ones converted to RGB) and
the whole job (decode, face detection, crops, model calls, tracking), wall-clock and CPU time (the
CPU seconds tell a busy machine's run apart), and samples the process's resident memory every 20 ms
to report the peak growth over the job.

    python bench/video_speed.py
    python bench/video_speed.py --photo ../shared/datasets/web-emotions/Angry/images18.jpg
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from random_model import random_classifier

from emotion_pipeline.data.moving_faces import moving_faces, write_clip

SIZE = (1280, 720)
CLIP_FPS = 30


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


class PeakMemory:
    """The largest resident set seen while in the `with` block, sampled every 20 ms."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def panning(photo: Path, seconds: float) -> Iterator[np.ndarray]:
    """A photo two thirds of the frame's height, drifting right across the frame and back."""
    with Image.open(photo) as image:
        picture = image.convert("RGB")
    height = SIZE[1] * 2 // 3
    picture = picture.resize((round(picture.width * height / picture.height), height))
    room = max(0, SIZE[0] - picture.width)
    for index in range(round(seconds * CLIP_FPS)):
        t = index / (seconds * CLIP_FPS)
        canvas = Image.new("RGB", SIZE, (40, 40, 40))
        canvas.paste(picture, (round(room * (1 - abs(2 * t - 1))), SIZE[1] // 6))
        yield np.asarray(canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=5.0, help="frames sampled per second")
    parser.add_argument("--image-size", type=int, default=224, help="the model's input size")
    parser.add_argument("--photo", type=Path, help="pan this photo instead of the synthetic faces")
    args = parser.parse_args()

    from emotion_pipeline.serving.clips import watch
    from emotion_pipeline.serving.predict import Classifier
    from emotion_pipeline.serving.video import samples

    with tempfile.TemporaryDirectory() as tmp:
        frames = (
            panning(args.photo, args.seconds) if args.photo else moving_faces(args.seconds, CLIP_FPS, SIZE, 2)
        )
        started = time.perf_counter()
        clip = write_clip(Path(tmp) / "clip.mp4", frames, CLIP_FPS, {"preset": "veryfast"})
        print(
            f"clip: {args.seconds:g} s {SIZE[0]}x{SIZE[1]} H.264 at {CLIP_FPS} fps, "
            f"{clip.stat().st_size / 2**20:.1f} MB, encoded in {time.perf_counter() - started:.1f} s"
        )
        classifier = Classifier(random_classifier(Path(tmp) / "model.keras", args.image_size, faces=True))
        watch(classifier, write_clip(Path(tmp) / "warm.mp4", moving_faces(1.0, 2, (64, 48)), 2), fps=2)

        started, cpu = time.perf_counter(), time.process_time()
        sampled = sum(1 for _ in samples(clip, args.fps))
        decode, decode_cpu = time.perf_counter() - started, time.process_time() - cpu
        with PeakMemory() as memory:
            started, cpu = time.perf_counter(), time.process_time()
            watched = watch(classifier, clip, args.fps)
            total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
    with_face = len({s.time for s in watched.sightings if s.face is not None})
    print(
        f"decode and sample alone: {sampled} frames at {args.fps:g} fps in {decode:.1f} s "
        f"({decode_cpu:.1f} s CPU)"
    )
    print(
        f"video: {watched.frames} frames sampled, {with_face} with a face "
        f"({len(watched.faces)} face numbers), "
        f"{args.image_size}-px VGG16: {total:.1f} s ({args.seconds / total:.2f}x real time; "
        f"{total_cpu:.1f} s CPU, all threads), "
        f"peak memory growth {(memory.peak - memory.start) / 2**20:.0f} MB"
    )


if __name__ == "__main__":
    main()
