"""Emotions over time: every face in a video's sampled frames, framed and classified as a photo's are,
each with the number it keeps from frame to frame. Shared by `emotion predict clip.mp4` and the API.

Each sampled frame goes through `faces.frame_picture` (the still images' detection and crops) and
the model through `Classifier.predict_arrays`, several frames' faces per call; a whole-image model
answers for the whole frame, one "face" that fills it. Only the crops of the frames waiting for the
next model call are held, never the frames themselves.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from emotion_pipeline.data.faces import NO_FACE, frame_picture
from emotion_pipeline.data.images import Box
from emotion_pipeline.serving.predict import Classifier, labelled
from emotion_pipeline.serving.tracking import Tracker
from emotion_pipeline.serving.video import DEFAULT_FPS, samples

COLUMNS = ["path", "time", "face", "box", "label"]  # then one column per class, as `emotion predict`'s
# Faces per model call: VGG16's activations for 32 rows at 224 px take ~1 GB (the benchmark's peak
# growth was 987 MB at 32); 8 take a quarter of that, and a CPU gains little from larger batches.
VIDEO_BATCH = 8


@dataclass(frozen=True)
class Sighting:
    """A face at one sampled time: its number and box (None: no face found in that frame, and the
    probabilities, if any, are the whole frame's, as the model's `fallback` says), and the answer."""

    time: float
    face: int | None
    box: Box | None
    probabilities: np.ndarray | None


@dataclass
class Watched:
    """A video's answer: what was seen at each sampled time, in order, and how many frames were sampled."""

    sightings: list[Sighting] = field(default_factory=list)
    frames: int = 0
    fps: float = DEFAULT_FPS

    @property
    def faces(self) -> list[int]:
        """The face numbers seen, in order of appearance."""
        return sorted({s.face for s in self.sightings if s.face is not None})


def watch(
    classifier: Classifier,
    source: Path | bytes | IO[bytes],
    fps: float = DEFAULT_FPS,
    max_seconds: float | None = None,
    deadline: float | None = None,
    model_lock: threading.Lock | None = None,
    batch_size: int = VIDEO_BATCH,
) -> Watched:
    """Classify every face in `source`'s frames sampled at `fps` (see `video.samples` for the limits
    and the errors). A server passes its `model_lock`, taken per model call, not per video, so still
    images are answered between a video's batches."""
    result = Watched(fps=fps)
    tracker = Tracker()
    waiting: list[tuple[float, list[int | None], list[Box | None], np.ndarray]] = []
    retry = True  # whether a frame takes the larger look where the first finds no face

    def classify() -> None:
        rows = np.concatenate([inputs for *_, inputs in waiting])
        with model_lock or nullcontext():
            probabilities = iter(classifier.predict_arrays(rows, batch_size))
        for time, numbers, boxes, _ in waiting:
            result.sightings.extend(
                Sighting(time, number, box, next(probabilities))
                for number, box in zip(numbers, boxes, strict=True)
            )
        waiting.clear()

    for sample in samples(source, fps, max_seconds, deadline):
        result.frames += 1
        framed = frame_picture(sample.image, classifier.image_size, classifier.faces, sample.scale, retry)
        retry = bool(framed.faces) or not retry  # after a frame without a face, every other frame
        boxes: list[Box | None] = [face.box for face in framed.faces]
        if classifier.faces is None:  # a whole-image model: the frame is its one face
            width, height = sample.image.size
            boxes = [(0, 0, round(width * sample.scale), round(height * sample.scale))]
        numbers: list[int | None]
        if boxes:
            numbers = list(tracker.assign(sample.time, boxes))
        elif len(framed.inputs):  # no face found: the whole frame's answer, as the model's fallback says
            numbers, boxes = [None], [None]
        else:  # no face found, and the model skips such frames
            result.sightings.append(Sighting(sample.time, None, None, None))
            continue
        waiting.append((sample.time, numbers, boxes, framed.inputs))
        if sum(len(inputs) for *_, inputs in waiting) >= batch_size:
            classify()
    if waiting:
        classify()
    return result


def video_rows(classes: list[str], path: str, watched: Watched) -> list[dict[str, Any]]:
    """The output rows: one per face per sampled frame, and one per frame without a face, noted."""
    rows = []
    for s in watched.sightings:
        answer = {"label": None, "probabilities": None}
        if s.probabilities is not None:
            answer = labelled(classes, s.probabilities)
        row = {
            "path": path,
            "time": round(s.time, 3),
            "face": s.face,
            "box": None if s.box is None else list(s.box),
        }
        rows.append({**row, **answer} if s.box is not None else {**row, **answer, "note": NO_FACE})
    return rows
