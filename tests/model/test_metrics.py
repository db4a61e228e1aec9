"""Metrics equal scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score

from emotion_pipeline.model.metrics import classification_metrics

CLASSES = ["angry", "happy", "sad"]


def test_metrics_equal_scikit_learn() -> None:
    actual = ["angry", "angry", "happy", "happy", "happy", "sad", "sad", "angry"]
    probabilities = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.2, 0.5, 0.3],
            [0.1, 0.8, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.1, 0.8],
            [0.2, 0.2, 0.6],
            [0.5, 0.1, 0.4],
            [0.4, 0.3, 0.3],
        ]
    )
    metrics = classification_metrics(actual, probabilities, CLASSES)
    y_true = [CLASSES.index(a) for a in actual]
    y_pred = probabilities.argmax(axis=1)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["loss"] == pytest.approx(log_loss(y_true, probabilities))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert metrics["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    for i, name in enumerate(CLASSES):
        scores = metrics["per_class"][name]
        assert scores["precision"] == pytest.approx(
            precision_score(y_true, y_pred, labels=[i], average="macro")
        )
        assert scores["recall"] == pytest.approx(recall_score(y_true, y_pred, labels=[i], average="macro"))
        assert scores["support"] == actual.count(name)
    assert metrics["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]
