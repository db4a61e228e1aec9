"""The report marks the epoch whose weights training kept: under `train.select=val_macro_f1` the
epoch of the best validation macro-F1, not the one of the lowest validation loss."""

from __future__ import annotations

from pathlib import Path

import pytest
from project import params_with

from emotion_pipeline.report.inputs import best_epoch, read_training_log
from emotion_pipeline.report.page import summary_lines

# Validation loss is lowest at epoch 2; macro-F1 (and accuracy) keep rising to epoch 4.
CURVES = {
    "train/loss": [1.2, 0.9, 0.7, 0.5],
    "eval/loss": [1.0, 0.6, 0.7, 0.8],
    "eval/accuracy": [0.4, 0.6, 0.62, 0.7],
    "eval/macro_f1": [0.3, 0.5, 0.55, 0.7],
}
METRICS = {
    "accuracy": 0.7,
    "loss": 0.8,
    "macro_f1": 0.7,
    "n_images": 2,
    "classes": ["a", "b"],
    "per_class": {
        "a": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "b": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    },
}


@pytest.fixture
def live_dir(tmp_path: Path) -> Path:
    """DVCLive's TSVs (`timestamp, step, value`, steps from 0) of a four-epoch run."""
    for name, values in CURVES.items():
        path = tmp_path / "plots" / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        metric = name.split("/")[1]
        rows = [f"{1_700_000_000 + step}\t{step}\t{value}" for step, value in enumerate(values)]
        path.write_text("\n".join([f"timestamp\tstep\t{metric}", *rows]) + "\n")
    return tmp_path


def train(**switches: object) -> dict:
    return params_with({f"train.{key}": value for key, value in switches.items()})["train"]


def test_the_report_marks_the_epoch_val_macro_f1_kept(live_dir: Path) -> None:
    log = read_training_log(live_dir)
    kept = best_epoch(log, train(select="val_macro_f1"))
    assert kept is not None and (kept.epoch, kept.kept) == (4, True)
    assert kept.val_loss == pytest.approx(0.8) and kept.val_accuracy == pytest.approx(0.7)
    text = "\n".join(summary_lines(METRICS, None, log, train(select="val_macro_f1")))
    assert (
        "best validation epoch 4 (validation loss 0.8000" in text and "val_macro_f1: its weights kept" in text
    )


@pytest.mark.parametrize(
    ("switches", "kept"),
    [
        ({"select": "val_loss"}, True),
        ({"select": "last", "early_stopping": 2}, True),
        ({"select": "last"}, False),
    ],
)
def test_validation_loss_marks_its_lowest_epoch(live_dir: Path, switches: dict, kept: bool) -> None:
    """Selecting on validation loss (or early stopping, which watches it) kept epoch 2; with neither,
    the last epoch's weights were kept and epoch 2 is marked as the best, not as kept."""
    log = read_training_log(live_dir)
    best = best_epoch(log, train(**switches))
    assert best is not None and (best.epoch, best.kept) == (2, kept)
    assert ("its weights kept" in "\n".join(summary_lines(METRICS, None, log, train(**switches)))) is kept
