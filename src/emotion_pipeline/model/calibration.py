"""How far to trust a probability: temperature scaling, and the scores that measure calibration.

A network trained on a few hundred images is usually over-confident: it says 95% where it is right
70% of the time. Temperature scaling divides the log-probabilities by one scalar T fitted on the
validation split (minimum NLL), which softens (T > 1) or sharpens (T < 1) every answer alike and
never changes which class wins. NumPy only: the report draws the diagram without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BINS = 15  # equal-width confidence bins for ECE and the reliability diagram, as Guo et al. (2017)
# T is searched in this range: a validation split with no mistake would otherwise drive T towards 0.
TEMPERATURE_RANGE = (0.1, 10.0)
FLOOR = float(np.finfo(np.float32).tiny)  # log(0) guard; the saved model's `Temperature` layer uses it too


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row by row: what the model's `Temperature` layer computes. At T = 1 that
    is p itself, returned as it is (not rounded through log and exp)."""
    if temperature == 1.0:
        return np.asarray(probabilities, dtype="float64")
    logits = np.log(np.maximum(np.asarray(probabilities, dtype="float64"), FLOOR)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of the true classes (`labels` are class indices)."""
    picked = np.asarray(probabilities, dtype="float64")[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(picked, FLOOR)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE that minimises the NLL of `labels` (searched on log T)."""
    from scipy.optimize import minimize_scalar  # 0.3 s to import: only the train stage fits T

    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probabilities, np.exp(log_t)), labels),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: images, mean top-class confidence and accuracy (NaN where empty)."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted gap between confidence and accuracy."""
        filled = self.counts > 0
        gaps = np.abs(self.confidence[filled] - self.accuracy[filled])
        return float((gaps * self.counts[filled]).sum() / max(1, self.counts.sum()))


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> Reliability:
    """Bin the top-class confidences into `bins` equal widths of [0, 1] (1.0 in the last bin)."""
    confidence = np.asarray(confidence, dtype="float64")
    correct = np.asarray(correct, dtype="float64")
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):  # empty bins: 0 / 0 is NaN, drawn as nothing
        mean_confidence = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct, bins) / counts
    return Reliability(np.linspace(0.0, 1.0, bins + 1), counts, mean_confidence, accuracy)


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean over images of the squared distance to the one-hot truth, summed over classes (0 to 2)."""
    probabilities = np.asarray(probabilities, dtype="float64")
    truth = np.eye(probabilities.shape[1])[labels]
    return float(((probabilities - truth) ** 2).sum(axis=1).mean())


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE of the top-class confidences over `bins` equal-width bins."""
    probabilities = np.asarray(probabilities, dtype="float64")
    return reliability(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels, bins).ece


def calibration_metrics(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, temperature: float
) -> dict[str, Any]:
    """The temperature, and ECE and Brier score without it (`before`) and with it (`after`)."""
    return {
        "temperature": float(temperature),
        "ece": {
            "before": expected_calibration_error(before, labels),
            "after": expected_calibration_error(after, labels),
        },
        "brier": {"before": brier_score(before, labels), "after": brier_score(after, labels)},
    }
