"""Batch prediction over files with per-file errors, framed as the model was trained (whole images or
each face): shared by the evaluate stage, the CLI and the web app."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotion_pipeline.core.progress import Progress
from emotion_pipeline.data.faces import Framed, frame, settings_from
from emotion_pipeline.data.images import Box, ImageError
from emotion_pipeline.model.backends import open_backend
from emotion_pipeline.serving.confidence import UNCERTAIN

if TYPE_CHECKING:  # Grad-CAM needs TensorFlow, which serving an export never imports
    from emotion_pipeline.serving.explain import GradCam, Heatmaps


@dataclass(frozen=True)
class FaceAnswer:
    """One face: its box in the image's pixels and the model's probabilities for it."""

    box: Box
    probabilities: np.ndarray


@dataclass(frozen=True)
class ImageAnswer:
    """One image's answer: its largest face's (or the whole image's) probabilities, None where no face
    was found and the model skips such images; and every face found, largest first."""

    path: str
    probabilities: np.ndarray | None
    faces: list[FaceAnswer]
    heatmap: np.ndarray | None = None  # where the answering row's evidence lies, when asked for


@dataclass
class Predictions:
    """An answer for each file that loaded, in order, and one reason for each file that did not."""

    images: list[ImageAnswer] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        """The files with an answer (all that loaded, but those without a face under `skip`)."""
        return [image.path for image in self.images if image.probabilities is not None]

    @property
    def probabilities(self) -> list[np.ndarray]:
        """Their answers, in the order of `paths`."""
        return [image.probabilities for image in self.images if image.probabilities is not None]

    @property
    def heatmaps(self) -> list[np.ndarray | None]:
        """Their heatmaps (when asked for), in the order of `paths`."""
        return [image.heatmap for image in self.images if image.probabilities is not None]


def labelled(
    classes: Sequence[str], probabilities: Sequence[float] | np.ndarray, min_confidence: float = 0.0
) -> dict[str, Any]:
    """One answer, the API's and the CLI's JSON alike: the top class and every probability; the
    label is `uncertain` where the top probability is below `min_confidence` (the probabilities are
    still given), so a caller can decline to answer rather than guess."""
    by_class = dict(zip(classes, map(float, probabilities), strict=True))
    top = max(by_class, key=by_class.__getitem__)
    return {"label": top if by_class[top] >= min_confidence else UNCERTAIN, "probabilities": by_class}


class Classifier:
    """A saved model loaded once (a `.keras` file or its `.onnx` or `.tflite` export), with its class
    names, input size and face settings; `model` is the Keras model, None for an export."""

    def __init__(self, model_path: str | Path) -> None:
        self.backend = open_backend(model_path)
        facts = self.backend.facts
        self.classes, self.image_size, self.precision = facts.classes, facts.image_size, facts.precision
        self.faces = settings_from(facts.faces)

    @property
    def model(self) -> Any:
        """The Keras model (Grad-CAM needs one); None for an export."""
        return self.backend.keras

    def predict_arrays(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Probabilities for uint8 RGB images already at the model's size, `batch_size` per model call."""
        chunks = [self.backend.predict(chunk.astype("float32")) for chunk in _chunks(images, batch_size)]
        if not chunks:
            return np.zeros((0, len(self.classes)))
        return np.concatenate([np.asarray(chunk, dtype="float64") for chunk in chunks])

    def answer_rows(
        self,
        rows: np.ndarray,
        batch_size: int = 32,
        gradcam: GradCam | None = None,
        target: int | None = None,
    ) -> tuple[np.ndarray, Heatmaps | None]:
        """Probabilities for uint8 RGB rows at the model's size and, with `gradcam`, each row's
        heatmap (for class `target`, or each row's predicted class). Where the explained network is
        the model itself (no test-time views), one pass through VGG16 gives both."""
        if gradcam is None or not len(rows):
            return self.predict_arrays(rows, batch_size), None
        from emotion_pipeline.serving.explain import Heatmaps

        heatmaps = Heatmaps.joined([gradcam(chunk, target) for chunk in _chunks(rows, batch_size)])
        if gradcam.answers_as_model:
            return heatmaps.probabilities, heatmaps
        return self.predict_arrays(rows, batch_size), heatmaps

    def frame(self, source: Path | bytes, deadline: float | None = None) -> Framed:
        """A file or upload framed as the model was trained: whole, or each face (see `faces.frame`)."""
        return frame(source, self.image_size, self.faces, deadline)

    def answer(self, path: str, framed: Framed, probabilities: np.ndarray) -> ImageAnswer:
        """The answer for a framed image, from the probabilities of its rows."""
        faces = [FaceAnswer(face.box, p) for face, p in zip(framed.faces, probabilities, strict=False)]
        return ImageAnswer(path, probabilities[0] if len(probabilities) else None, faces)

    @property
    def calibrated(self) -> bool:
        """Whether the model answers through a fitted temperature (`train.calibrate`): only then does
        a probability threshold mean what it says."""
        return self.backend.facts.temperature != 1.0

    def as_json(self, answer: ImageAnswer, min_confidence: float = 0.0) -> dict[str, Any]:
        """The API's answer: label and probabilities (None where no face was found under `skip`),
        and with face detection `faces`: each face's box, label and probabilities; labels below
        `min_confidence` are `uncertain` (see `labelled`)."""
        result: dict[str, Any] = {"label": None, "probabilities": None}
        if answer.probabilities is not None:
            result = labelled(self.classes, answer.probabilities, min_confidence)
        if self.faces is not None:
            result["faces"] = [
                {"box": list(f.box), **labelled(self.classes, f.probabilities, min_confidence)}
                for f in answer.faces
            ]
        return result

    def predict_files(
        self,
        paths: Sequence[str | Path],
        batch_size: int = 32,
        progress: Progress | None = None,
        gradcam: GradCam | None = None,
    ) -> Predictions:
        """Load (and find faces) in parallel and predict in batches; a bad file is recorded, never fatal.
        With `gradcam`, each answer also carries its answering row's heatmap."""
        result = Predictions()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for batch in _chunks(paths, batch_size):
                loaded = []
                for path, framed in zip(batch, pool.map(self._try_frame, batch), strict=True):
                    if isinstance(framed, str):
                        result.errors.append((str(path), framed))
                    else:
                        loaded.append((str(path), framed))
                rows = [framed.inputs for _, framed in loaded]
                probabilities, heatmaps = self.answer_rows(
                    np.concatenate(rows) if rows else np.zeros((0,)), batch_size, gradcam
                )
                start = 0
                for path, framed in loaded:
                    end = start + len(framed.inputs)
                    answer = self.answer(path, framed, probabilities[start:end])
                    if heatmaps is not None and end > start:
                        answer = replace(answer, heatmap=heatmaps.maps[start])
                    result.images.append(answer)
                    start = end
                if progress:
                    progress.advance(len(batch))
        return result

    def _try_frame(self, path: str | Path) -> Framed | str:
        try:
            return self.frame(Path(path))
        except ImageError as error:
            return str(error)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
