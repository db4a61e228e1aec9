"""Temperature scaling: fitted on validation it repairs an over-confident model's probabilities, never
its answers, and it travels inside the saved model."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from emotion_pipeline.model.calibration import (
    apply_temperature,
    brier_score,
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability,
)
from emotion_pipeline.model.network import load_classifier, temperature_of, with_temperature

WEIGHTS = np.array([[1.5, -1.0, 0.0], [0.0, 1.2, -1.5]])


def over_confident_model() -> keras.Model:
    """A linear softmax model with 3x the weights that generate the labels (`sample`): right as
    often as the true model, far surer of itself."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.layers[-1].set_weights([3 * WEIGHTS, np.zeros(3)])
    return model


def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = rng.normal(0.0, 1.0, (n, 2))
    logits = points @ WEIGHTS
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return points.astype("float32"), np.array([rng.choice(3, p=row) for row in truth])


def test_temperature_fitted_on_validation_repairs_test_confidence_not_answers() -> None:
    model = over_confident_model()
    validation, validation_labels = sample(2000, 0)
    test, test_labels = sample(2000, 1)
    temperature = fit_temperature(model.predict(validation, verbose=0), validation_labels)
    assert temperature == pytest.approx(3.0, rel=0.15)
    before = model.predict(test, verbose=0)
    after = with_temperature(model, temperature).predict(test, verbose=0)
    np.testing.assert_array_equal(after.argmax(axis=1), before.argmax(axis=1))  # same accuracy
    ece_before = expected_calibration_error(before, test_labels)
    ece_after = expected_calibration_error(after, test_labels)
    assert ece_before > 0.1 and ece_after < ece_before / 3, (ece_before, ece_after)
    assert negative_log_likelihood(after, test_labels) < negative_log_likelihood(before, test_labels)
    assert brier_score(after, test_labels) < brier_score(before, test_labels)


def test_scaling_by_one_over_t_undoes_t() -> None:
    probabilities = over_confident_model().predict(sample(50, 2)[0], verbose=0)
    np.testing.assert_allclose(apply_temperature(probabilities, 1.0), probabilities, rtol=1e-6)
    scaled = apply_temperature(probabilities, 2.5)
    np.testing.assert_allclose(apply_temperature(scaled, 1 / 2.5), probabilities, rtol=1e-6, atol=1e-12)


def test_ece_bins_and_brier_by_hand() -> None:
    right = np.arange(10) < 9  # 9 of 10 right at 90% confidence: calibrated
    assert reliability([0.9] * 10, right).ece == pytest.approx(0.0)
    assert reliability([0.9] * 10, np.arange(10) < 5).ece == pytest.approx(0.4)
    bins = reliability([1.0, 0.5, 0.02], [True, False, True])
    assert bins.counts.sum() == 3 and bins.counts[-1] == 1 and bins.counts[0] == 1  # 1.0: last bin
    assert len(bins.edges) == 16
    assert brier_score(np.eye(3), np.arange(3)) == 0.0
    assert brier_score(np.full((2, 2), 0.5), np.array([0, 1])) == pytest.approx(0.5)
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    metrics = calibration_metrics(one_hot, one_hot, np.array([0, 1, 2, 1]), 1.0)
    assert metrics["ece"] == {"before": 0.25, "after": 0.25}
    assert metrics["brier"]["before"] == pytest.approx(0.5)


@pytest.mark.slow
def test_temperature_survives_save_and_reload(model_path: Path, tmp_path: Path) -> None:
    model, classes, size = load_classifier(model_path)
    assert temperature_of(model) == 1.0
    images = np.random.default_rng(3).integers(0, 256, (8, size, size, 3)).astype("float32")
    raw = model.predict(images, verbose=0)
    with_temperature(model, 0.05).save(tmp_path / "calibrated.keras")  # sharp: differences show
    reloaded, reloaded_classes, _ = load_classifier(tmp_path / "calibrated.keras")
    assert temperature_of(reloaded) == 0.05 and reloaded_classes == classes
    answered = reloaded.predict(images, verbose=0)
    np.testing.assert_allclose(answered, apply_temperature(raw, 0.05), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(answered.argmax(axis=1), raw.argmax(axis=1))
    assert np.abs(answered - raw).max() > 0.01
