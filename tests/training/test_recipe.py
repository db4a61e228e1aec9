"""The recipe's switches on tiny models: BatchNormalization VGG16, optimizer schedules, keeping the
best epoch, the added augmentation layers and test-time augmentation (TTA) saved in the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from dvclive import Live
from PIL import Image
from project import params_with
from sklearn.metrics import f1_score

from emotion_pipeline.model.network import assemble, build_head, build_vgg16, load_classifier
from emotion_pipeline.model.views import TTA_SHIFT, RandomErasing, RandomJpegQuality, build_augmentation
from emotion_pipeline.report.inputs import read_curve
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.training.batches import EpochViews, image_batches
from emotion_pipeline.training.trainer import Trainer, learning_rates, set_trainable_blocks

CLASSES = ["angry", "happy", "sad"]
SIZE = 32
OFF = params_with(  # every augmentation off (the baseline's other ones are)
    {"augment.width_shift": 0.0, "augment.height_shift": 0.0}
    | {"augment.horizontal_flip": False, "augment.vertical_flip": False}
)["augment"]


def recipe(**train: Any) -> dict[str, Any]:
    """The project's params with these `train` switches and small batches."""
    return params_with({"batch_size": 4, **{f"train.{key}": value for key, value in train.items()}})


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, SIZE, SIZE, 3)).astype("float32")


def features(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable rows: the class is which of the first three features is largest."""
    x = np.random.default_rng(seed).normal(size=(count, 4)).astype("float32")
    return x, np.eye(3, dtype="float32")[x[:, :3].argmax(axis=1)]


def head_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_head((4,), CLASSES, 16, 0.0)


def logged(live_dir: Path, name: str) -> np.ndarray:
    curve = read_curve(live_dir / "plots" / "metrics" / f"{name}.tsv")
    assert curve is not None, f"{name} was not logged"
    return curve.values


# BatchNormalization VGG16


@pytest.mark.parametrize("width", [1.0, 0.5])
@pytest.mark.slow
def test_batch_norm_vgg16_keeps_vgg16_names_and_trains_saves_and_reloads(
    tmp_path: Path, width: float
) -> None:
    keras.utils.set_random_seed(0)
    base = build_vgg16(None, SIZE, batch_norm=True, width_multiplier=width)
    plain = build_vgg16(None, SIZE)
    plain_names = [layer.name for layer in plain.layers[1:]]
    names = [layer.name for layer in base.layers]
    assert set(plain_names) <= set(names)
    for conv in (name for name in plain_names if "_conv" in name):  # conv, then BN, then ReLU
        at = names.index(conv)
        kinds = [type(layer).__name__ for layer in base.layers[at : at + 3]]
        assert kinds == ["Conv2D", "BatchNormalization", "ReLU"], conv
        assert base.get_layer(conv).filters == plain.get_layer(conv).filters * width, conv
    set_trainable_blocks(base, 1)
    assert {layer.name for layer in base.layers if layer.trainable} == {
        name for name in names if name.startswith("block5")
    }

    model = assemble(base, build_head(base.output_shape[1:], CLASSES, 8, 0.0), CLASSES, SIZE)
    set_trainable_blocks(base, None)
    moving_mean = base.get_layer("block1_conv1_bn").moving_mean.numpy().copy()
    x, y = images(8), np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2, 0, 1]]
    Trainer(recipe()).fit(model, (x, y), None, 1, 0.01)
    assert not np.allclose(base.get_layer("block1_conv1_bn").moving_mean.numpy(), moving_mean)

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded, classes, size = load_classifier(path)
    assert (classes, size) == (CLASSES, SIZE)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    base.save_weights(tmp_path / "base.weights.h5")  # the base stage's file, loaded by name
    again = build_vgg16(tmp_path / "base.weights.h5", SIZE, batch_norm=True, width_multiplier=width)
    np.testing.assert_array_equal(again.predict(x, verbose=0), base.predict(x, verbose=0))


# Optimizers and learning-rate schedules


@pytest.mark.slow
def test_cosine_warms_up_for_one_epoch_then_decays_to_zero(tmp_path: Path) -> None:
    schedule = learning_rates("cosine", 0.1, 2, 4)
    assert [float(schedule(step)) for step in (0, 1, 2)] == pytest.approx([0.0, 0.05, 0.1])
    live = Live(str(tmp_path / "live"), dvcyaml=False, save_dvc_exp=False)
    Trainer(recipe(schedule="cosine", optimizer="sgd"), live).fit(head_model(), features(8, 1), None, 4, 0.1)
    rates = logged(tmp_path / "live", "learning_rate")
    assert len(rates) == 4 and rates[0] == pytest.approx(0.1)  # warm-up done after the first epoch
    assert np.all(np.diff(rates) < 0) and rates[-1] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("schedule", ["constant", "plateau"])
@pytest.mark.slow
def test_plateau_cuts_the_rate_by_a_quarter_after_five_epochs_without_progress(
    schedule: str, tmp_path: Path
) -> None:
    """Identical validation inputs, half of each class: validation accuracy is 0.5 whatever is learnt."""
    model = build_head((4,), CLASSES[:2], 8, 0.0)
    x, _ = features(8, 2)
    y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
    validation = (np.zeros((4, 4), "float32"), np.eye(2, dtype="float32")[[0, 0, 1, 1]])
    live = Live(str(tmp_path / "live"), dvcyaml=False, save_dvc_exp=False)
    Trainer(recipe(schedule=schedule, weight_decay=0.01), live).fit(model, (x, y), validation, 8, 0.01)
    assert list(logged(tmp_path / "live", "eval/accuracy")) == [0.5] * 8
    cut = 6 if schedule == "plateau" else 8  # epochs 1-6 at the start rate: epoch 6 is the 5th without gain
    expected = [0.01] * cut + [0.0075] * (8 - cut)
    np.testing.assert_allclose(logged(tmp_path / "live", "learning_rate"), expected, rtol=1e-6)


# Cached views


def test_each_epoch_serves_every_image_once_as_the_next_of_its_cached_views() -> None:
    images, views_each, epochs = 10, 3, 4
    # Row i's view k holds i + 100 k everywhere, so a served row names its image and its view.
    cached = np.arange(images)[:, None, None] + 100 * np.arange(views_each)[None, :, None]
    cached = np.broadcast_to(cached, (images, views_each, 4)).astype("float32")
    targets = np.eye(3, dtype="float32")[np.arange(images) % 3]
    views = EpochViews(cached, targets, batch_size=4, epochs=epochs, seed=0)
    assert (views.steps, len(views)) == (3, epochs * 3)
    orders = []
    for epoch in range(epochs):
        batches = [views[epoch * views.steps + step] for step in range(views.steps)]
        served = np.concatenate([x for x, _ in batches])[:, 0].astype(int)
        image, view = served % 100, served // 100
        assert sorted(image) == list(range(images))
        assert set(view) == {epoch % views_each}
        np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), targets[image])
        orders.append(tuple(image))
    assert len(set(orders)) == epochs
    again = EpochViews(cached, targets, batch_size=4, epochs=epochs, seed=0)
    np.testing.assert_array_equal(again[5][0], views[5][0])
    # What Keras trains on: the same batches, in the same order, gathered by TensorFlow.
    fed = list(views.dataset().as_numpy_iterator())
    assert len(fed) == len(views)
    for index, (x, y) in enumerate(fed):
        np.testing.assert_array_equal(x, views[index][0])
        np.testing.assert_array_equal(y, views[index][1])


@pytest.mark.slow
def test_training_on_cached_views_takes_one_pass_over_the_images_per_epoch() -> None:
    x, y = features(10, 0)
    views = EpochViews(np.stack([x, x + 0.01, x - 0.01], axis=1), y, batch_size=4, epochs=5, seed=0)
    model = head_model()
    Trainer(recipe()).fit(model, views, None, 5, 0.01)
    assert int(model.optimizer.iterations) == 5 * 3  # 10 images in batches of 4, not 30 rows
    with pytest.raises(ValueError, match="ordered for 5 epochs, not 4"):
        Trainer(recipe()).fit(head_model(), views, None, 4, 0.01)


# Keeping the best epoch


def fit_head(epochs: int, **train: Any) -> tuple[keras.Model, dict[str, list[float]], tuple]:
    """A head fitted to data whose validation labels disagree with its training labels for some rows,
    so validation scores rise and then fall as the head learns the training labels."""
    x, y = features(32, 3)
    val_x, val_y = features(12, 4)
    val_y[:3] = np.roll(val_y[:3], 1, axis=1)  # three validation labels the head must get wrong
    model = head_model()
    history = Trainer(recipe(**train)).fit(model, (x, y), (val_x, val_y), epochs, 0.03)
    return model, history.history, (val_x, val_y)


@pytest.mark.parametrize("select", ["val_loss", "val_macro_f1"])
@pytest.mark.slow
def test_select_keeps_the_best_epochs_weights(select: str) -> None:
    model, history, (val_x, val_y) = fit_head(12, select=select)
    scores = np.array(history[select])
    best = int(np.argmin(scores) if select == "val_loss" else np.argmax(scores))
    assert 0 < best < len(scores) - 1 and scores[-1] != scores[best], "the case needs a later, worse epoch"
    predicted = model.predict(val_x, verbose=0)
    macro_f1 = f1_score(val_y.argmax(1), predicted.argmax(1), average="macro", labels=[0, 1, 2])
    assert history["val_macro_f1"][best] == pytest.approx(macro_f1, abs=1e-6)  # Keras' metric = sklearn's
    rerun, _, _ = fit_head(best + 1)  # the same seeded run, stopped at the best epoch
    for kept, at_best in zip(model.get_weights(), rerun.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, at_best)


@pytest.mark.slow
def test_a_second_phase_that_never_beats_the_first_keeps_the_first_phases_best() -> None:
    x, y = features(32, 5)
    model = head_model()
    trainer = Trainer(recipe(select="val_macro_f1"))
    trainer.fit(model, (x, y), (x, y), 4, 0.05)
    first = [w.copy() for w in model.get_weights()]
    wrong = np.roll(y, 1, axis=1)  # phase 2 learns the wrong labels: every epoch scores worse
    second = trainer.fit(model, (x, wrong), (x, y), 3, 0.05)
    assert max(second.history["val_macro_f1"]) < trainer.best and trainer.epoch == 7
    for kept, best in zip(model.get_weights(), first, strict=True):
        np.testing.assert_array_equal(kept, best)


@pytest.mark.slow
def test_early_stopping_stops_after_its_patience_and_keeps_the_best_loss() -> None:
    model, history, _ = fit_head(30, early_stopping=2)
    losses = history["val_loss"]
    best = int(np.argmin(losses))
    assert len(losses) == best + 3 < 30
    np.testing.assert_array_equal(model.get_weights()[0], fit_head(best + 1)[0].get_weights()[0])


# Augmentation layers


SWITCHES = [{"rotation": 20}, {"zoom": 0.3}, {"erasing": 1.0}, {"brightness": 0.3}, {"contrast": 0.5}]
SWITCHES += [{"blur": 1.5}, {"jpeg_quality": 10}]


@pytest.mark.parametrize("switch", SWITCHES)
def test_added_augmentations_act_only_in_training_and_survive_saving(switch: dict, tmp_path: Path) -> None:
    augment = {**OFF, **switch}
    x = images(4, 1)
    layers = build_augmentation(augment, seed=7)
    assert len(layers.layers) == 2  # the (zero) shifts and the switch; flips are off
    np.testing.assert_array_equal(layers(x, training=False).numpy(), x)
    assert not np.allclose(layers(x, training=True).numpy(), x)
    np.testing.assert_array_equal(  # seeded: a fresh copy augments the same way
        build_augmentation(augment, seed=7)(x, training=True).numpy(),
        build_augmentation(augment, seed=7)(x, training=True).numpy(),
    )
    inputs = keras.Input((SIZE, SIZE, 3))
    keras.Model(inputs, layers(inputs)).save(tmp_path / "augment.keras")
    reloaded = keras.models.load_model(tmp_path / "augment.keras").get_layer("augmentation")
    # As JSON: a tuple in a config loads back as a list.
    assert [json.dumps(layer.get_config()) for layer in reloaded.layers] == [
        json.dumps(layer.get_config()) for layer in layers.layers
    ]
    np.testing.assert_array_equal(reloaded(x, training=False).numpy(), x)


def test_random_erasing_replaces_one_rectangle_per_image_with_its_probability() -> None:
    blank = -np.ones((64, SIZE, SIZE, 3), "float32")  # below any noise value: every change shows
    erased = RandomErasing(0.5, seed=3)(blank, training=True).numpy() != -1
    touched = erased.any(axis=(1, 2, 3))
    assert 16 < touched.sum() < 48
    for mask in erased[touched]:
        rows, cols = np.flatnonzero(mask.any(axis=(1, 2))), np.flatnonzero(mask.any(axis=(0, 2)))
        box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert box.all() and mask.sum() == box.size  # one solid rectangle, all channels
        assert 0.01 < box.size / mask.size <= 0.34
    assert np.array_equal(RandomErasing(0.0, seed=3)(blank, training=True).numpy(), blank)


def test_contrast_is_lowered_and_raised_within_its_range() -> None:
    x = 128 + 20 * np.random.default_rng(6).standard_normal((64, SIZE, SIZE, 3)).astype("float32")
    contrasted = build_augmentation({**OFF, "contrast": 0.3}, seed=0)(x, training=True).numpy()
    factors = contrasted.std(axis=(1, 2)) / x.std(axis=(1, 2))  # per image and channel
    assert 0.7 - 1e-3 <= factors.min() < 0.85 and 1.15 < factors.max() <= 1.3 + 1e-3


def test_jpeg_quality_reencodes_each_image_at_a_quality_of_its_own_in_its_range() -> None:
    x = images(4, 5)
    lowest = 20
    encoded = RandomJpegQuality(lowest, seed=1)(x, training=True).numpy()
    pixels = x.astype("uint8")

    def qualities(i: int) -> list[int]:
        """The qualities in the layer's range whose JPEG copy of image i is what the layer made."""
        return [
            q
            for q in range(lowest, 101)
            if np.array_equal(tf.image.adjust_jpeg_quality(pixels[i], q).numpy(), encoded[i])
        ]

    found = [qualities(i) for i in range(len(x))]
    assert all(found)
    assert len({tuple(q) for q in found}) > 1  # drawn per image, not per batch


def test_mixup_blends_images_and_labels_by_one_weight_drawn_anew_each_epoch(tmp_path: Path) -> None:
    """Black angry and white happy faces: a blended pixel's brightness is its label's happy share."""
    paths, labels = [], []
    for i in range(32):
        labels.append(CLASSES[i % 2])
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (SIZE, SIZE), (0, 0, 0) if i % 2 == 0 else (255, 255, 255)).save(paths[-1])

    def epoch(batches: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
        x, y = zip(*[(x.numpy(), y.numpy()) for x, y in batches], strict=True)
        return np.concatenate(x), np.concatenate(y)

    plain_x, plain_y = epoch(image_batches(paths, labels, CLASSES, SIZE, 8, 0))
    assert set(np.unique(plain_x)) == {0, 255} and set(np.unique(plain_y)) == {0, 1}
    mixed = image_batches(paths, labels, CLASSES, SIZE, 8, 0, mixup=0.4)
    x, y = epoch(mixed)
    assert x.dtype == np.float32 and y.shape == plain_y.shape
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
    assert (y[:, 2] == 0).all()  # no sad face to blend in
    np.testing.assert_allclose(x / 255, np.broadcast_to(y[:, 1, None, None, None], x.shape), atol=1e-5)
    assert ((y[:, 1] > 0.01) & (y[:, 1] < 0.99)).sum() >= 4  # blends, not just swaps
    assert not np.allclose(epoch(mixed)[1], y)  # the next epoch draws new weights


# Test-time augmentation


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`image` moved down `dy` and right `dx` pixels (negative: up, left), edge pixels repeated."""
    padded = np.pad(image, ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0)), mode="edge")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[top : top + image.shape[0], left : left + image.shape[1]]


@pytest.mark.slow
def test_tta_is_the_mean_over_the_views_and_what_the_classifier_runs(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    base = build_vgg16(None, SIZE)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    augmentation = build_augmentation({**OFF, "horizontal_flip": True}, 0)
    stock = assemble(base, head, CLASSES, SIZE, augmentation)
    assert not any("tta" in layer.name for layer in stock.layers)
    x = images(3, 2)
    d = round(SIZE * TTA_SHIFT)
    views = [x, x[:, :, ::-1]] + [
        np.stack([shifted(image, dy, dx) for image in x]) for dy in (-d, d) for dx in (-d, d)
    ]
    by_hand = np.mean([stock.predict(view, verbose=0) for view in views], axis=0)
    assert not np.allclose(by_hand, stock.predict(x, verbose=0))  # the views matter

    path = tmp_path / "tta.keras"
    assemble(base, head, CLASSES, SIZE, augmentation, tta=True).save(path)
    classifier = Classifier(path)
    np.testing.assert_allclose(classifier.predict_arrays(x.astype("uint8")), by_hand, rtol=1e-5, atol=1e-6)
    assert classifier.classes == CLASSES and classifier.precision == "float32"
