"""An honest "not sure": below a minimum top probability, the answer's label is `uncertain` (the
probabilities are still given). The CLI's `--min-confidence` and the API's `min_confidence` read the
threshold alike; NumPy and TensorFlow free, so `emotion --help` stays instant."""

from __future__ import annotations

UNCERTAIN = "uncertain"  # the label of an answer whose top probability is below the asked minimum


def probability(text: str) -> float:
    """A threshold as typed by a user: a number from 0 to 1 (ValueError otherwise, NaN included)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be a number from 0 to 1, not {text!r}")
    return value
