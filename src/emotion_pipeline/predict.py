"""Batch prediction over files with per-file errors: shared by the evaluate stage and the CLI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion_pipeline.images import ImageError, load_image
from emotion_pipeline.model import load_classifier, trained_precision
from emotion_pipeline.progress import Progress


@dataclass
class Predictions:
    """Probabilities for the files that loaded, and one reason for each file that did not."""

    paths: list[str] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def labelled(classes: Sequence[str], probabilities: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """One image's answer, the API's and the CLI's JSON alike: the top class and every probability."""
    by_class = dict(zip(classes, map(float, probabilities), strict=True))
    return {"label": max(by_class, key=by_class.__getitem__), "probabilities": by_class}


class Classifier:
    """A saved model loaded once, with its class names and input size."""

    def __init__(self, model_path: str | Path) -> None:
        self.model, self.classes, self.image_size = load_classifier(model_path)
        self.precision = trained_precision(self.model)

    def predict_arrays(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for a batch of uint8 RGB images already at the model's size."""
        return np.asarray(self.model.predict_on_batch(images.astype("float32")), dtype="float64")

    def predict_files(
        self,
        paths: Sequence[str | Path],
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> Predictions:
        """Load in parallel and predict in batches; a bad file is recorded, never fatal."""
        result = Predictions()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for batch in _chunks(paths, batch_size):
                images = []
                for path, loaded in zip(batch, pool.map(self._try_load, batch), strict=True):
                    if isinstance(loaded, str):
                        result.errors.append((str(path), loaded))
                    else:
                        result.paths.append(str(path))
                        images.append(loaded)
                if images:
                    result.probabilities.extend(self.predict_arrays(np.stack(images)))
                if progress:
                    progress.advance(len(batch))
        return result

    def _try_load(self, path: str | Path) -> np.ndarray | str:
        try:
            return load_image(Path(path), self.image_size)
        except ImageError as error:
            return str(error)


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
