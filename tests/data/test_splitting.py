"""Metrics equal scikit-learn's; the split is stratified, seeded and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score

from emotion_pipeline.data.splitting import SplitError, class_counts, split_counts, stratified_split
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


def _items(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"{label}/{i:03d}.jpg", label) for label, n in counts.items() for i in range(n)]


def test_split_is_stratified() -> None:
    counts = {"angry": 84, "happy": 99, "sad": 78}
    split = stratified_split(_items(counts), 0.1, 0.2, seed=42)
    got = class_counts(split)
    for label, n in counts.items():
        assert {name: got[name][label] for name in got} == split_counts(n, 0.1, 0.2)
    assert got["test"] == {"angry": 8, "happy": 10, "sad": 8}
    paths = [p for rows in split.values() for p, _ in rows]
    assert sorted(paths) == sorted(p for p, _ in _items(counts)) and len(set(paths)) == len(paths)


def test_split_is_deterministic_and_seeded() -> None:
    items = _items({"angry": 30, "happy": 30, "sad": 30})
    first = stratified_split(items, 0.1, 0.2, seed=1)
    again = stratified_split(list(reversed(items)), 0.1, 0.2, seed=1)
    other = stratified_split(items, 0.1, 0.2, seed=2)
    assert first["test"] == again["test"]
    assert first["test"] != other["test"]


@pytest.mark.parametrize(
    ("counts", "message"),
    [({"angry": 10}, "at least 2 classes"), ({"angry": 10, "sad": 2}, r"class sad .*'sad': 2")],
)
def test_split_refuses_what_it_cannot_stratify(counts: dict[str, int], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        stratified_split(_items(counts), 0.1, 0.2, seed=0)


def test_params_read_exponent_floats(tmp_path) -> None:
    """`dvc exp run -S train.finetune_learning_rate=0.00001` writes `1e-05` into params.yaml."""
    from emotion_pipeline.core.params import read_yaml

    path = tmp_path / "params.yaml"
    path.write_text("lr: 1e-05\nother: 1.0e-5\nsmall: -2E+3\nname: 1e5x\nversion: '1e-05'\nepochs: 20\n")
    params = read_yaml(path)
    assert params == {
        "lr": 1e-05,
        "other": 1e-05,
        "small": -2000.0,
        "name": "1e5x",
        "version": "1e-05",
        "epochs": 20,
    }
