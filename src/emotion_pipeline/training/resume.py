"""Resuming an interrupted training from its last finished epoch instead of from the start.

A recipe that trains images through the network (the fer2013 base: ~40 epochs, hours on 2 cores)
loses everything to a Ctrl-C, a closed laptop or a killed job unless its state outlives the process.
After each epoch of such a phase, the whole state goes to `.resume/<fingerprint>/`: every variable of
the model (its weights and its augmentations' random-number states), the optimizer's (moments, step,
so the schedule continues), the best epoch kept so far and the curves DVCLive drew. The fingerprint
covers the params, the training and validation images (path, label, size, modification time) and the
base weights' bytes, so a run with anything changed starts afresh. The next run of the stage finds
the state and goes on: it shuffles the images as the interrupted process would have (each epoch's
order is the next draw of the dataset's seeded shuffle), so on the same machine it ends with the same
weights, to the bit, as a run that was never stopped. The folder is removed once the model is saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from dvclive import Live

from emotion_pipeline.core.tables import read_json, write_atomic, write_json

RESUME_ROOT = Path(".resume")  # beside dvc.yaml; ignored by git, never a DVC output
LATEST = "latest"  # the file naming the newest whole epoch folder
LIVE_FILES = ("plots", "metrics.json")  # what DVCLive has written so far (curves and summary)
KEPT_TRAININGS = 3  # interrupted trainings kept at most (a fer2013 one takes ~60 MB)


def fingerprint(
    params: dict[str, Any], images: Sequence[tuple[str, str]], base_weights: str | Path | None
) -> str:
    """What a training depends on, hashed: its params, each (path, label) image with its size and
    modification time, and the bytes of the base weights it starts from."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path, label in images:
        stat = Path(path).stat()
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    if base_weights is not None and Path(base_weights).is_file():
        digest.update(Path(base_weights).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Epoch:
    """Where an interrupted training stood after its last finished epoch: its phase (1, 2, …), the
    epochs finished in the whole run, the epoch the phase began at, how many passes the phase's
    shuffled dataset had begun before the phase, and the state of the callbacks that keep the best
    epoch and cut the learning rate on a plateau."""

    phase: int
    epoch: int
    phase_start: int
    shuffles_before: int
    stopped: bool = False  # early stopping ended the phase at this epoch
    keep: dict[str, Any] | None = None
    plateau: dict[str, Any] | None = None


def _save_arrays(path: Path, arrays: Sequence[np.ndarray]) -> None:
    with path.open("wb") as file:
        np.savez(file, *arrays)


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _copy_live(source: Path, target: Path) -> None:
    """DVCLive's curves and summary from one folder into another (over what is there)."""
    for name in LIVE_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        elif (source / name).is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


class Resume:
    """One training's resume folder: the epoch it holds (if any), read once; `SaveEpochs` writes it
    after each epoch and puts it back into a fresh process."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        pointer = self.folder / LATEST
        self.state = self.folder / pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
        found = self.state is not None and (self.state / "epoch.json").is_file()
        self.saved = Epoch(**read_json(self.state / "epoch.json")) if found else None

    @classmethod
    def of(
        cls,
        params: dict[str, Any],
        images: Sequence[tuple[str, str]],
        base_weights: str | Path | None,
        root: str | Path = RESUME_ROOT,
    ) -> Resume:
        """The folder of this training (by its fingerprint). A training that starts afresh removes all
        but the newest `KEPT_TRAININGS - 1` other interrupted trainings: a quick recipe tried between
        two runs of a long one leaves the long one's epochs, and the disk stays bounded."""
        folder = Path(root) / fingerprint(params, images, base_weights)
        resume = cls(folder)
        if resume.saved is None and Path(root).is_dir():
            others = sorted(Path(root).iterdir(), key=lambda path: path.stat().st_mtime, reverse=True)
            for other in others[KEPT_TRAININGS - 1 :]:
                shutil.rmtree(other, ignore_errors=True)
        return resume

    def live(self, live_dir: str | Path) -> Live:
        """DVCLive for the stage: with a saved epoch, its curves so far are put back and continued."""
        if self.state is not None and self.saved is not None:
            _copy_live(self.state / "live", Path(live_dir))
        live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=self.saved is not None)
        if self.saved is not None:  # DVCLive reads back step 0 as "nothing logged": say where it is
            live.step = self.saved.epoch
        return live

    def finish(self) -> None:
        """The training's model is saved: nothing is left to resume (nor `.resume/`, if it is empty)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # other trainings' folders stay
            self.folder.parent.rmdir()


KEPT = ("best", "wait", "best_epoch")  # KeepBest's counters (its weights are saved beside them)
PLATEAU = ("best", "wait", "cooldown_counter")


class SaveEpochs(keras.callbacks.Callback):
    """Saves the training's state after each epoch into a new folder, then points `latest` at it, so
    an interrupt at any moment leaves the last whole epoch; restores a saved epoch on train begin
    (after the other callbacks have set themselves up, so it has the last word)."""

    def __init__(
        self,
        resume: Resume,
        where: Epoch,
        keep: keras.callbacks.EarlyStopping | None,
        plateau: keras.callbacks.ReduceLROnPlateau | None,
        live: Live | None,
    ) -> None:
        super().__init__()
        self.resume, self.where, self.keep, self.plateau, self.live = resume, where, keep, plateau, live

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        saved, state = self.resume.saved, self.resume.state
        if saved is None or state is None or saved.phase != self.where.phase:
            return
        for variable, value in zip(self.model.variables, _load_arrays(state / "model.npz"), strict=True):
            variable.assign(value)
        optimizer = self.model.optimizer
        if not optimizer.built:  # Keras builds it at the first step: its moments must exist to be set
            optimizer.build(self.model.trainable_variables)
        for variable, value in zip(optimizer.variables, _load_arrays(state / "optimizer.npz"), strict=True):
            variable.assign(value)
        if self.keep is not None and saved.keep is not None:
            for name in KEPT:
                setattr(self.keep, name, saved.keep[name])
            best = state / "best.npz"
            self.keep.best_weights = _load_arrays(best) if best.is_file() else None
        if self.plateau is not None and saved.plateau is not None:
            for name in PLATEAU:
                setattr(self.plateau, name, saved.plateau[name])

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        folder = self.resume.folder
        state = folder / f"epoch-{epoch + 1:04d}"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        _save_arrays(state / "model.npz", [v.numpy() for v in self.model.variables])
        _save_arrays(state / "optimizer.npz", [v.numpy() for v in self.model.optimizer.variables])
        keep = plateau = None
        if self.keep is not None:
            keep = {name: _plain(getattr(self.keep, name)) for name in KEPT}
            if self.keep.best_weights is not None:
                _save_arrays(state / "best.npz", self.keep.best_weights)
        if self.plateau is not None:
            plateau = {name: _plain(getattr(self.plateau, name)) for name in PLATEAU}
        if self.live is not None:
            _copy_live(Path(self.live.dir), state / "live")
        where = Epoch(
            **{
                **asdict(self.where),
                "epoch": epoch + 1,
                "stopped": bool(self.model.stop_training),
                "keep": keep,
                "plateau": plateau,
            }
        )
        write_json(state / "epoch.json", asdict(where))
        write_atomic(folder / LATEST, state.name)  # the switch: before it, the previous epoch stands
        for older in folder.glob("epoch-*"):
            if older != state:
                shutil.rmtree(older, ignore_errors=True)


def _plain(value: Any) -> Any:
    """A callback's counter as JSON holds it (NumPy and TensorFlow scalars become Python numbers)."""
    return None if value is None else np.asarray(value).item()
