"""What the report reads: DVCLive's training logs, the split's files, dvc.lock and package versions.

Every reader tolerates its input being absent: a report with a gap beats no report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from emotion_pipeline.core.params import SELECTABLE, selected_metric
from emotion_pipeline.core.tables import read_table


@dataclass(frozen=True)
class Curve:
    """One logged metric: epochs (1-based) and values, sorted by epoch."""

    epochs: np.ndarray
    values: np.ndarray


# {"loss": {"train": Curve, "eval": Curve}, "accuracy": {...}, "macro_f1": {...}}; a missing file is a
# missing key.
TrainingLog = dict[str, dict[str, Curve]]


@dataclass(frozen=True)
class BestEpoch:
    """The best validation epoch, for the plot and report: by the metric `train.select` kept the
    weights of (`kept`), else by the lowest validation loss (else the highest accuracy)."""

    epoch: int
    val_loss: float | None
    val_accuracy: float | None
    kept: bool = False


def read_curve(path: str | Path) -> Curve | None:
    """A DVCLive TSV (`timestamp, step, value`) as a curve, or None when the file is absent or empty.

    Steps count from 0, so epoch = step + 1. A step logged twice (a resumed run) keeps its last value.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, sep="\t")
    except (FileNotFoundError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    if "step" not in frame.columns or frame.shape[1] < 2:
        return None
    points = pd.DataFrame(  # the metric is the last column, whatever its name
        {
            "step": pd.to_numeric(frame["step"], errors="coerce"),
            "value": pd.to_numeric(frame.iloc[:, -1], errors="coerce"),
        }
    ).dropna()
    points = points.drop_duplicates("step", keep="last").sort_values("step")
    if points.empty:
        return None
    return Curve(points["step"].to_numpy(dtype=int) + 1, points["value"].to_numpy(dtype=float))


def read_training_log(live_dir: str | Path) -> TrainingLog:
    """Loss, accuracy and macro-F1 curves for training and validation; absent files are left out."""
    base = Path(live_dir) / "plots" / "metrics"
    log: TrainingLog = {}
    for metric in ("loss", "accuracy", "macro_f1"):
        for split in ("train", "eval"):
            curve = read_curve(base / split / f"{metric}.tsv")
            if curve is not None:
                log.setdefault(metric, {})[split] = curve
    return log


def best_epoch(log: TrainingLog, train: dict[str, Any]) -> BestEpoch | None:
    """The epoch whose weights `train.select` kept (as training picks it: the earliest wins a tie);
    without a selection, the lowest validation loss (else highest validation accuracy)."""
    val_loss = log.get("loss", {}).get("eval")
    val_acc = log.get("accuracy", {}).get("eval")
    selected = selected_metric(train)
    kept = log.get(selected.removeprefix("val_"), {}).get("eval") if selected else None

    def value_at(curve: Curve | None, epoch: int) -> float | None:
        if curve is None:
            return None
        hits = np.flatnonzero(curve.epochs == epoch)
        return float(curve.values[hits[0]]) if hits.size else None

    if kept is not None and np.isfinite(kept.values).any():
        pick = np.nanargmin if SELECTABLE[selected] == "min" else np.nanargmax
        epoch = int(kept.epochs[pick(kept.values)])
        return BestEpoch(epoch, value_at(val_loss, epoch), value_at(val_acc, epoch), kept=True)
    if val_loss is not None and np.isfinite(val_loss.values).any():
        epoch = int(val_loss.epochs[np.nanargmin(val_loss.values)])
    elif val_acc is not None and np.isfinite(val_acc.values).any():
        epoch = int(val_acc.epochs[np.nanargmax(val_acc.values)])
    else:
        return None
    return BestEpoch(epoch, value_at(val_loss, epoch), value_at(val_acc, epoch))


def read_predictions(path: str | Path) -> list[dict[str, str]]:
    """The rows of `predictions.csv` (`path, actual, predicted`)."""
    return read_table(path).to_dict("records")


def read_skipped(path: str | Path) -> pd.DataFrame | None:
    """`skipped.csv` (path, reason), or None when the file is absent."""
    return read_table(path) if Path(path).is_file() else None


def read_faces(path: str | Path) -> pd.DataFrame | None:
    """`faces.csv` (every image's faces), or None when it is absent or empty: detection was off."""
    faces = read_table(path) if Path(path).is_file() else None
    return None if faces is None or faces.empty else faces


def read_split_lists(split_dir: str | Path) -> list[dict[str, str]]:
    """The rows of every split list in `split_dir` (train, val, test)."""
    return [
        row
        for name in ("train", "val", "test")
        for row in read_table(Path(split_dir) / f"{name}.csv").to_dict("records")
    ]


def _clean_path(path: str) -> str:
    return Path(str(path).strip()).as_posix().rstrip("/") or "."


def data_hash(lock_path: str | Path, data_dir: str | None) -> str:
    """The DVC md5 of the `split` stage's dependency on the data folder, or "unknown".

    This is the content hash DVC recorded when the split ran, so the report names exactly which data
    produced the numbers; it is "unknown" when dvc.lock is absent or does not list the folder.
    """
    lock_path = Path(lock_path)
    if data_dir is None or not lock_path.is_file():
        return "unknown"
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
        deps = lock["stages"]["split"]["deps"]
    except (yaml.YAMLError, KeyError, TypeError):
        return "unknown"
    wanted = _clean_path(data_dir)
    for dep in deps or []:
        if isinstance(dep, dict) and _clean_path(dep.get("path", "")) == wanted:
            for key in ("md5", "checksum", "etag"):
                if dep.get(key):
                    return str(dep[key])
    return "unknown"


def file_sizes(model: str | Path, exports: str | Path) -> dict[str, int]:
    """Bytes of the model's file and of each exported model beside it (none where the export stage
    is off), by file name: the Keras file first."""
    files = [Path(model)] if Path(model).is_file() else []
    if Path(exports).is_dir():
        files += sorted(p for p in Path(exports).iterdir() if p.suffix in {".onnx", ".tflite"})
    return {path.name: path.stat().st_size for path in files}
