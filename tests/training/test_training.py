"""The classifier learns, through the real stages: a task with a known answer, every recipe switch,
and the base stage with a weights file.

Random-weight tests sit at chance, so they cannot see a label shuffled against its features. Here
the class is where a bright square sits (top-left, top-right or bottom-left): a frozen random VGG16
keeps that position in its 2x2 feature map, so the head must reach near-perfect accuracy, and a
misaligned label would put it back at chance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from project import copy_project, load_stage, run, write_params

# The slow tier: `dvc repro` training for 15 epochs, then stages rerun with each switch.
pytestmark = pytest.mark.slow

CORNERS = {"top_left": (0, 0), "top_right": (0, 1), "bottom_left": (1, 0)}
SIZE = 64
LEARNS = {
    "model.weights": "none",
    "image_size": SIZE,
    "epochs": 15,
    "crossval.folds": 3,
    # A flip or a shift would move the square to another class's corner.
    "augment.width_shift": 0.0,
    "augment.height_shift": 0.0,
    "augment.horizontal_flip": False,
    "augment.vertical_flip": False,
    "augment.views": 2,  # two rows per image: a label repeated wrongly would land on other images
}


def make_corner_task(root: Path, per_class: int = 30) -> Path:
    """Dark noise with one bright square in the class's corner; size, offset and colour vary."""
    for label, (row, column) in CORNERS.items():
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            rng = np.random.default_rng([row, column, index])
            pixels = rng.integers(0, 90, (SIZE, SIZE, 3), dtype=np.uint8)
            side = int(rng.integers(14, 22))
            top = int(rng.integers(0, 6)) + row * (SIZE - side - 6)
            left = int(rng.integers(0, 6)) + column * (SIZE - side - 6)
            pixels[top : top + side, left : left + side] = rng.integers(200, 256, 3)
            Image.fromarray(pixels).save(root / label / f"{index:03d}.png")
    return root


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole pipeline (`dvc repro`) on the corner task, in a copy of the project."""
    data = make_corner_task(tmp_path_factory.mktemp("corners"))
    project = copy_project(tmp_path_factory.mktemp("learn"))
    write_params(project / "params.yaml", {**LEARNS, "data.dir": str(data)})
    run(project, "dvc", "repro")
    return project


def test_the_pipeline_learns_a_task_with_a_known_answer(learned: Path) -> None:
    metrics = json.loads((learned / "metrics/test.json").read_text())
    crossval = json.loads((learned / "metrics/crossval.json").read_text())
    assert metrics["n_images"] == 9 and metrics["accuracy"] >= 0.75  # chance: 0.33
    assert crossval["accuracy"]["mean"] >= 0.75, crossval  # 3 folds over all 90 images


def train(learned: Path, tmp_path: Path, changes: dict[str, object]) -> tuple[Path, list[float]]:
    """The train stage in-process with `changes` on the corner task's params; the saved model and
    the validation loss logged per epoch."""
    params = write_params(tmp_path / "params.yaml", {**LEARNS, "data.dir": "unused", "epochs": 2, **changes})
    model, live = tmp_path / "model.keras", tmp_path / "dvclive"
    status = load_stage("train").main(
        [
            *("--params", str(params), "--split-dir", str(learned / "data/split")),
            *(
                "--features-dir",
                str(learned / "data/features"),
                "--base",
                str(learned / "models/vgg16_base.weights.h5"),
            ),
            *("--live-dir", str(live), "--out", str(model)),
        ]
    )
    assert status == 0 and model.is_file()
    lines = (live / "plots/metrics/eval/loss.tsv").read_text().splitlines()[1:]
    return model, [float(line.split("\t")[-1]) for line in lines]


def base_kernel(weights: Path, layer: str) -> np.ndarray:
    from emotion_pipeline.model.network import build_vgg16

    return build_vgg16(weights, SIZE).get_layer(layer).kernel.numpy()


def trained_kernel(model: Path, layer: str) -> np.ndarray:
    from emotion_pipeline.model.network import load_classifier

    return load_classifier(model)[0].get_layer("vgg16").get_layer(layer).kernel.numpy()


def test_online_training_sends_every_epoch_through_the_frozen_network(learned: Path, tmp_path: Path) -> None:
    model, losses = train(learned, tmp_path, {"train.mode": "online", "epochs": 3})
    assert len(losses) == 3
    base = learned / "models/vgg16_base.weights.h5"
    np.testing.assert_array_equal(trained_kernel(model, "block5_conv3"), base_kernel(base, "block5_conv3"))


def test_a_trainable_base_changes_every_block(learned: Path, tmp_path: Path) -> None:
    model, _ = train(learned, tmp_path, {"train.trainable_base": True})
    base = learned / "models/vgg16_base.weights.h5"
    for layer in ("block1_conv1", "block5_conv3"):
        assert not np.array_equal(trained_kernel(model, layer), base_kernel(base, layer)), layer


def test_finetuning_continues_the_curves_and_unfreezes_only_the_last_block(
    learned: Path, tmp_path: Path
) -> None:
    model, losses = train(learned, tmp_path, {"train.finetune_epochs": 2, "train.finetune_blocks": 1})
    assert len(losses) == 4  # 2 epochs of the head, then 2 of fine-tuning on the same curve
    base = learned / "models/vgg16_base.weights.h5"
    assert not np.array_equal(trained_kernel(model, "block5_conv3"), base_kernel(base, "block5_conv3"))
    for layer in ("block1_conv1", "block4_conv3"):
        np.testing.assert_array_equal(trained_kernel(model, layer), base_kernel(base, layer))


def test_early_stopping_ends_training_when_validation_loss_stops_improving(
    learned: Path, tmp_path: Path
) -> None:
    # A learning rate this high makes the validation loss jump about, so it soon fails to improve.
    _, losses = train(
        learned, tmp_path, {"epochs": 20, "train.early_stopping": 1, "model.learning_rate": 1.0}
    )
    assert 2 <= len(losses) < 20


def test_class_weights_and_label_smoothing_train(learned: Path, tmp_path: Path) -> None:
    from sklearn.utils.class_weight import compute_class_weight

    from emotion_pipeline.model.network import build_head
    from emotion_pipeline.training.trainer import class_weights, compile_model

    _, losses = train(learned, tmp_path, {"train.class_weights": True, "train.label_smoothing": 0.1})
    assert len(losses) == 2 and all(np.isfinite(losses))
    labels = ["a"] * 6 + ["b"] * 2 + ["c"]
    expected = compute_class_weight("balanced", classes=np.array(["a", "b", "c"]), y=np.array(labels))
    assert list(class_weights(labels, ["a", "b", "c"]).values()) == pytest.approx(list(expected))
    head = build_head((2, 2, 8), ["a", "b", "c"], 4, 0.0)
    compile_model(head, 0.001, 0.1)
    assert head.loss.label_smoothing == pytest.approx(0.1)


def crossval(
    learned: Path, tmp_path: Path, changes: dict[str, object], split_dir: str = "data/faces"
) -> dict:
    """The crossval stage in-process on the corner task's caches with `changes`; its JSON."""
    params = write_params(tmp_path / "params.yaml", {**LEARNS, "data.dir": "unused", **changes})
    out = tmp_path / "crossval.json"
    status = load_stage("crossval").main(
        [
            *("--params", str(params), "--out", str(out), "--split-dir", str(learned / split_dir)),
            *("--features-dir", str(learned / "data/features")),
            *("--features-dir", str(learned / "data/crossval_features")),
            *("--base", str(learned / "models/vgg16_base.weights.h5")),
        ]
    )
    assert status == 0
    return json.loads(out.read_text())


def test_crossval_fine_tunes_each_fold_when_asked(
    learned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import emotion_pipeline.training.fit

    tuned, original = [], emotion_pipeline.training.fit.finetune

    def recording(trainer: Any, network: Any, data: Any, validation: Any = None) -> None:
        before = network.base.get_layer("block5_conv3").kernel.numpy()
        original(trainer, network, data, validation)
        tuned.append(not np.array_equal(before, network.base.get_layer("block5_conv3").kernel.numpy()))

    monkeypatch.setattr(emotion_pipeline.training.fit, "finetune", recording)
    recipe = {"epochs": 10, "train.finetune_epochs": 1, "train.finetune_learning_rate": 1e-6}
    result = crossval(learned, tmp_path, {**recipe, "crossval.finetune": True})
    assert tuned == [True, True, True]  # every fold changed its last block
    assert result["accuracy"]["mean"] >= 0.75, result  # scored through the whole classifier
    assert crossval(learned, tmp_path, {**recipe, "crossval.finetune": False})["folds"] == 3
    assert len(tuned) == 3  # off: the folds score the head alone


def test_crossval_refuses_image_lists_that_are_not_the_cached_ones(learned: Path, tmp_path: Path) -> None:
    other = tmp_path / "lists"
    other.mkdir()
    for name in ("train", "val", "test"):
        lines = (learned / "data/faces" / f"{name}.csv").read_text().splitlines()
        (other / f"{name}.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    with pytest.raises(ValueError, match="do not hold the images listed"):
        crossval(learned, tmp_path, {}, split_dir=str(other))


def test_the_base_stage_saves_the_weights_file_it_is_given(tmp_path: Path) -> None:
    import keras

    from emotion_pipeline.model.network import build_vgg16

    keras.utils.set_random_seed(3)  # not the params' seed: a random init would not match
    given = tmp_path / "given.weights.h5"
    build_vgg16(None).save_weights(given)
    params = write_params(tmp_path / "params.yaml", {"model.weights": str(given)})
    saved = tmp_path / "base.weights.h5"
    assert load_stage("base").main(["--params", str(params), "--out", str(saved)]) == 0
    for layer in ("block1_conv1", "block5_conv3"):
        np.testing.assert_array_equal(base_kernel(saved, layer), base_kernel(given, layer))


def test_the_base_stage_copies_a_trained_classifiers_vgg16(model_path: Path, tmp_path: Path) -> None:
    """`model.weights` may name a classifier this pipeline trained (a FER2013 model at 48 px, say):
    its VGG16 layers become the base, whatever the run's image size (this one was trained at 32)."""
    from emotion_pipeline.model.network import load_classifier

    params = write_params(tmp_path / "params.yaml", {"model.weights": str(model_path)})
    saved = tmp_path / "base.weights.h5"
    assert load_stage("base").main(["--params", str(params), "--out", str(saved)]) == 0
    trained = load_classifier(model_path)[0].get_layer("vgg16")
    for layer in ("block1_conv1", "block3_conv2", "block5_conv3"):
        np.testing.assert_array_equal(base_kernel(saved, layer), trained.get_layer(layer).kernel.numpy())


def test_a_classifier_with_other_layers_is_refused(model_path: Path, tmp_path: Path) -> None:
    import keras

    from emotion_pipeline.model.network import assemble, build_head, build_vgg16
    from emotion_pipeline.model.weights import WeightsUnavailable, load_base_weights

    full = build_vgg16(None)
    short = keras.Model(full.input, full.get_layer("block4_pool").output)  # as a base of another layout
    with pytest.raises(WeightsUnavailable, match=r"its VGG16 has the layers .*block5_conv3.*; the base has"):
        load_base_weights(short, model_path)
    normalised = build_vgg16(None, batch_norm=True)  # model.batch_norm=true, a stock VGG16 classifier
    with pytest.raises(WeightsUnavailable, match=r"; the base has .*block1_conv1_bn"):
        load_base_weights(normalised, model_path)
    narrow = build_vgg16(None, 32, batch_norm=True, width_multiplier=0.5)  # a half-width FER2013 model
    classes = ["angry", "happy", "sad"]
    narrow_path = tmp_path / "narrow.keras"
    assemble(narrow, build_head(narrow.output_shape[1:], classes, 8, 0.0), classes, 32).save(narrow_path)
    with pytest.raises(WeightsUnavailable, match=r"block1_conv1 has weights of shapes \[\(3, 3, 3, 32\)\]"):
        load_base_weights(normalised, narrow_path)
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(other)
    with pytest.raises(WeightsUnavailable, match="not a classifier saved by this pipeline"):
        load_base_weights(full, other)
