"""An interrupted training resumes from its last finished epoch and ends with the weights, to the bit,
and the curves of a run that was never stopped; anything changed starts it afresh."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from project import ROOT, params_with, tool_env

from emotion_pipeline.core.tables import table, write_table
from emotion_pipeline.model.network import build_vgg16
from emotion_pipeline.training.fit import Examples, TrainingData, train_classifier
from emotion_pipeline.training.resume import KEPT_TRAININGS, LATEST, Resume, fingerprint
from emotion_pipeline.training.trainer import Trainer

CLASSES = ["angry", "happy", "sad"]
SIZE = 32
TINY = {  # a narrow BatchNorm VGG16 trained whole, online, with random augmentations and dropout
    "image_size": SIZE,
    "batch_size": 4,
    "epochs": 4,
    "model.weights": "none",
    "model.batch_norm": True,
    "model.width_multiplier": 0.125,
    "model.dense_units": 8,
    "model.dropout": 0.3,
    "augment.erasing": 0.5,
    "train.trainable_base": True,
    "train.optimizer": "adam",
    "train.weight_decay": 0.01,
    "train.schedule": "cosine",
    "train.select": "val_macro_f1",
}
# A second phase on the same shuffled images: the frozen base's head, then the last block unfrozen.
TWO_PHASES = {**TINY, "train.trainable_base": False, "train.mode": "online", "train.schedule": "plateau"}
TWO_PHASES |= {"epochs": 3, "train.finetune_epochs": 3, "train.finetune_learning_rate": 1e-3}
STAGE_EPOCHS = 12  # more than the train stage can finish in the moment Ctrl-C takes to arrive


def write_images(root: Path, count: int, seed: int) -> list[tuple[str, str]]:
    """`count` noise images (PNG) under `root`, labelled in turn; their (path, label) rows."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        path = root / f"{index:02d}.png"
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
        rows.append((str(path), CLASSES[index % 3]))
    return rows


def base_weights(path: Path, params: dict[str, Any]) -> Path:
    keras.utils.set_random_seed(0)
    model = params["model"]
    build_vgg16(None, SIZE, model["batch_norm"], model["width_multiplier"]).save_weights(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainingData, Path]:
    root = tmp_path_factory.mktemp("tiny")
    train, val = write_images(root / "train", 16, 0), write_images(root / "val", 6, 1)
    data = TrainingData(
        CLASSES, Examples.of(*zip(*train, strict=True)), Examples.of(*zip(*val, strict=True)), 42
    )
    return data, base_weights(root / "base.weights.h5", params_with(TINY))


class Interrupt(keras.callbacks.Callback):
    """Ctrl-C as the given epoch (counted over the whole run) begins."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def trained(
    params: dict[str, Any],
    tiny: tuple[TrainingData, Path],
    folder: Path | None,
    live_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    interrupt: int | None = None,
) -> list[np.ndarray]:
    """The trained classifier's weights (with `folder` as its resume folder), or the KeyboardInterrupt
    raised as epoch `interrupt` begins."""
    data, base = tiny
    if interrupt is not None:
        callbacks = Trainer.callbacks

        def interrupting(trainer: Trainer, validated: bool, epochs: int) -> Any:
            chosen, keep, plateau = callbacks(trainer, validated, epochs)
            return [Interrupt(interrupt), *chosen], keep, plateau

        monkeypatch.setattr(Trainer, "callbacks", interrupting)
    resume = Resume(folder) if folder is not None else None
    live = resume.live(live_dir) if resume is not None else None
    try:
        return train_classifier(params, data, base, live, resume).get_weights()
    finally:
        monkeypatch.undo()


def curves(live_dir: Path) -> dict[str, np.ndarray]:
    """Each logged metric's rows as DVCLive wrote them: (step, value), the timestamps left out."""
    return {
        str(path.relative_to(live_dir)): pd.read_csv(path, sep="\t").iloc[:, 1:].to_numpy()
        for path in sorted((live_dir / "plots/metrics").rglob("*.tsv"))
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "interrupt"), [(TINY, 2), (TWO_PHASES, 4)], ids=["one-phase", "second-phase"]
)
def test_a_resumed_training_ends_as_one_never_interrupted(
    changes: dict[str, Any],
    interrupt: int,
    tiny: tuple[TrainingData, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = params_with(changes)
    whole = trained(params, tiny, tmp_path / "whole", tmp_path / "whole-live", monkeypatch)
    if changes is TINY:  # saving each epoch changes nothing
        plain = trained(params, tiny, None, tmp_path / "plain", monkeypatch)
        for saving, not_saving in zip(whole, plain, strict=True):
            np.testing.assert_array_equal(saving, not_saving)
    folder = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        trained(params, tiny, folder, tmp_path / "stopped-live", monkeypatch, interrupt)
    assert (folder / LATEST).read_text() == f"epoch-{interrupt:04d}"
    assert sorted(p.name for p in folder.glob("epoch-*")) == [f"epoch-{interrupt:04d}"]  # older ones gone
    saved = Resume(folder).saved
    assert saved is not None and saved.epoch == interrupt
    assert saved.phase == (1 if changes is TINY else 2)

    resumed = trained(params, tiny, folder, tmp_path / "stopped-live", monkeypatch)
    for after_resume, uninterrupted in zip(resumed, whole, strict=True):
        np.testing.assert_array_equal(after_resume, uninterrupted)
    expected, got = curves(tmp_path / "whole-live"), curves(tmp_path / "stopped-live")
    assert got.keys() == expected.keys() and expected
    for name, values in expected.items():
        assert values[:, 0].tolist() == list(range(params["epochs"] + params["train"]["finetune_epochs"]))
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_anything_changed_starts_afresh_and_one_interrupted_training_is_kept(tmp_path: Path) -> None:
    images = write_images(tmp_path / "images", 3, 0)
    weights = tmp_path / "base.weights.h5"
    weights.write_bytes(b"weights")
    params = params_with(TINY)
    first = fingerprint(params, images, weights)
    assert fingerprint(params, images, weights) == first
    assert fingerprint(params_with({**TINY, "epochs": 5}), images, weights) != first
    assert fingerprint(params, [*images[:2], (images[2][0], "happy")], weights) != first  # a label
    weights.write_bytes(b"other weights")
    assert fingerprint(params, images, weights) != first
    weights.write_bytes(b"weights")
    Image.new("RGB", (SIZE, SIZE)).save(images[0][0])  # an image rewritten
    os.utime(images[0][0], ns=(1, 1))
    assert fingerprint(params, images, weights) != first

    root = tmp_path / "resume"
    stale = [root / f"{age:016d}" for age in range(KEPT_TRAININGS)]  # the oldest first
    for age, folder in enumerate(stale):
        folder.mkdir(parents=True)
        os.utime(folder, (age, age))
    fresh = Resume.of(params, images, weights, root)
    assert fresh.saved is None and not fresh.folder.exists()
    # A training that starts afresh leaves room for itself beside the newest others.
    assert sorted(root.iterdir()) == stale[1:]


@pytest.mark.slow
def test_the_train_stage_interrupted_resumes_and_clears_its_folder(
    tiny: tuple[TrainingData, Path], tmp_path: Path
) -> None:
    """Ctrl-C in the train stage after its first epoch; the next run says where it resumes, logs every
    epoch once, and leaves no resume folder behind."""
    data, base = tiny
    split = tmp_path / "split"
    split.mkdir()
    for name, part in (("train", data.train), ("val", data.val)):
        write_table(
            split / f"{name}.csv", table(zip(part.paths, part.labels, strict=True), ["path", "label"])
        )
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(params_with({**TINY, "epochs": STAGE_EPOCHS})))
    command = [
        *(sys.executable, str(ROOT / "stages/train.py"), "--params", str(params)),
        *("--split-dir", str(split), "--features-dir", str(tmp_path / "features"), "--base", str(base)),
        *("--live-dir", str(tmp_path / "dvclive"), "--out", str(tmp_path / "model.keras")),
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tool_env(ROOT)
    )
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(".resume/*/latest")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    (folder,) = tmp_path.glob(".resume/*")
    saved = Resume(folder).saved
    assert saved is not None and 1 <= saved.epoch < STAGE_EPOCHS
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=tool_env(ROOT), timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert f"train: resuming after epoch {saved.epoch}, where a run was interrupted" in done.stdout
    loss = pd.read_csv(tmp_path / "dvclive/plots/metrics/train/loss.tsv", sep="\t")
    assert loss["step"].tolist() == list(range(STAGE_EPOCHS))  # each epoch once
    assert (tmp_path / "model.keras").is_file() and not (tmp_path / ".resume").exists()
