"""Keras callbacks of a training phase: the curves DVCLive records, and keeping the epoch whose
weights `train.select` asks for across phases."""

from __future__ import annotations

import keras
from dvclive import Live
from dvclive.utils import standardize_metric_name

from emotion_pipeline.core.params import SELECTABLE

LOGGED = ("loss", "accuracy", "macro_f1")  # per epoch, for training and (val_) validation
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.75, 5  # as Khaireddin & Chen (2021) on FER2013, on val accuracy


class LiveMetrics(keras.callbacks.Callback):
    """Per-epoch metrics and learning rate to DVCLive; unlike DVCLive's own callback it does not end
    the run, so a second training phase continues the same curves."""

    def __init__(self, live: Live) -> None:
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        values = {
            standardize_metric_name(name, "dvclive.keras"): float(value)
            for name, value in (logs or {}).items()
            if name.removeprefix("val_") in LOGGED
        }
        # The rate of the epoch's last step (before a plateau cut, which runs after this callback).
        values["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for name, value in values.items():  # timestamped: each epoch's wall time can be read back
            self.live.log_metric(name, value, timestamp=True)
        self.live.next_step()


class KeepBest(keras.callbacks.EarlyStopping):
    """Keras' early stopping, always restoring the best epoch's weights at the end, with a score to
    beat from earlier phases: a phase none of whose epochs beats it ends with the weights it started
    from (the earlier phases' best)."""

    def __init__(self, monitor: str, patience: int, best: float | None) -> None:
        super().__init__(monitor, patience=patience, mode=SELECTABLE[monitor], restore_best_weights=True)
        self.start = best

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        super().on_train_begin(logs)
        if self.start is not None:
            self.best, self.best_weights = self.start, self.model.get_weights()
