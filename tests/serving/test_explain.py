"""Grad-CAM: a trained model's heatmap lies where the evidence is; overlays keep the image's size."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from emotion_pipeline.data.images import load_image
from emotion_pipeline.model.network import assemble, build_head
from emotion_pipeline.serving.explain import GradCam, class_index
from emotion_pipeline.serving.overlays import display_image, output_paths, overlay
from emotion_pipeline.serving.predict import Classifier

SIZE = 64
SQUARE = ["plain", "square"]
BACKGROUND = (124, 117, 104)  # about the ImageNet mean: VGG's preprocessing makes it ~0, like the padding


def squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey noise images; label 1 has a white 12-px square somewhere in the bottom-right quadrant."""
    rng = np.random.default_rng(seed)
    images = (np.array(BACKGROUND) + rng.integers(-5, 6, (n, SIZE, SIZE, 3))).astype(np.uint8)
    labels = rng.integers(0, 2, n)
    for i in np.flatnonzero(labels):
        row, column = SIZE // 2 + rng.integers(2, SIZE // 2 - 14, 2)
        images[i, row : row + 12, column : column + 12] = 255
    return images, labels


@pytest.fixture(scope="module")
def square_classifier(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    """A small conv base (three conv+pool blocks, the last conv named `last_conv`) in the project's
    classifier (preprocessing, the report's head, class names), trained on `squares`, saved, loaded."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for name in ("conv1", "conv2", "last_conv"):
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name=name)(x)
        x = keras.layers.MaxPooling2D()(x)
    base = keras.Model(inputs, x, name="vgg16")  # stands in for VGG16 wherever the loader looks for it
    model = assemble(base, build_head(base.output_shape[1:], SQUARE, 32, 0.0), SQUARE, SIZE)
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    images, labels = squares(400, 1)
    model.fit(images.astype("float32"), np.eye(2)[labels], epochs=3, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("squares") / "model.keras"
    model.save(path)
    return Classifier(path)


@pytest.mark.slow
def test_heatmap_mass_lies_in_the_quadrant_that_decides_the_class(square_classifier: Classifier) -> None:
    images, labels = squares(40, 2)
    result = GradCam(square_classifier.model, "last_conv")(images)
    assert (result.classes == labels).mean() >= 0.9  # the model learnt the task
    maps = result.maps[labels == 1]  # 16x16 cells: the last conv runs at 1/4 of 64 px
    half = maps.shape[1] // 2  # the bottom-right quadrant: a quarter of the cells
    share = maps[:, half:, half:].sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
    assert share.mean() > 0.7 and share.min() > 0.5, share
    forced = GradCam(square_classifier.model, "last_conv")(images[labels == 1], class_index=1)
    np.testing.assert_allclose(forced.maps, maps, atol=1e-6)
    assert (forced.classes == 1).all()


@pytest.mark.slow
def test_saved_vgg16_classifier_explains_block5_conv3(classifier: Classifier) -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    result = GradCam(classifier.model)(images)  # block5_conv3 inside the nested `vgg16`
    assert result.maps.shape == (3, 2, 2)  # 32 px / 16
    # By hand, through the layers by name: each cell's activations times the gradient there of the
    # class's logit minus the mean logit, summed over channels, rectified, peak 1.
    model = classifier.model
    vgg, head = model.get_layer("vgg16"), model.get_layer("head")
    x = model.get_layer("vgg16_preprocess")(tf.constant(images, "float32"))
    for layer in vgg.layers[1 : [part.name for part in vgg.layers].index("block5_conv3") + 1]:
        x = layer(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        hidden = vgg.get_layer("block5_pool")(x)
        for layer in head.layers[:-1]:
            hidden = layer(hidden)
        logits = hidden @ head.layers[-1].kernel + head.layers[-1].bias
        score = tf.gather(logits, result.classes, batch_dims=1) - tf.reduce_mean(logits, axis=1)
    cells = tf.nn.relu(tf.reduce_sum(tape.gradient(score, x) * x, axis=-1)).numpy()
    np.testing.assert_allclose(result.maps, cells / cells.max(axis=(1, 2), keepdims=True), atol=1e-5)
    np.testing.assert_allclose(result.probabilities, classifier.predict_arrays(images), rtol=1e-5)
    np.testing.assert_array_equal(result.classes, result.probabilities.argmax(axis=1))
    assert (GradCam(classifier.model)(images, class_index=2).classes == 2).all()


@pytest.mark.slow
def test_a_model_with_test_time_views_is_explained_on_the_image_itself(square_classifier: Classifier) -> None:
    """With `train.tta` the saved model averages views; its map is the plain image's, one per image."""
    model = square_classifier.model
    base, head = model.get_layer("vgg16"), model.get_layer("head")
    averaged = assemble(base, head, SQUARE, SIZE, tta=True)
    images, _ = squares(6, 3)
    plain = GradCam(model, "last_conv")(images)
    with_views = GradCam(averaged, "last_conv")(images)
    assert with_views.maps.shape == plain.maps.shape == (6, 16, 16)
    np.testing.assert_allclose(with_views.maps, plain.maps, atol=1e-6)


@pytest.mark.slow
def test_answers_with_heatmaps_take_one_pass_unless_the_model_averages_views(
    square_classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    images, _ = squares(5, 4)
    expected = square_classifier.predict_arrays(images)
    passes = []
    predict = square_classifier.predict_arrays
    monkeypatch.setattr(square_classifier, "predict_arrays", lambda *a: passes.append(1) or predict(*a))
    probabilities, heatmaps = square_classifier.answer_rows(
        images, 2, GradCam(square_classifier.model, "last_conv")
    )
    assert not passes  # the heatmaps' forward pass gave the answers
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-7)
    assert heatmaps is not None and heatmaps.maps.shape == (5, 16, 16)  # in batches of 2, joined in order
    np.testing.assert_allclose(
        heatmaps.maps, GradCam(square_classifier.model, "last_conv")(images).maps, atol=1e-6
    )

    model = square_classifier.model
    averaged = assemble(model.get_layer("vgg16"), model.get_layer("head"), SQUARE, SIZE, tta=True)
    monkeypatch.setattr(square_classifier.backend, "keras", averaged)
    probabilities, heatmaps = square_classifier.answer_rows(images, 2, GradCam(averaged, "last_conv"))
    assert passes  # the answer is the mean over the views, not the explained image's
    np.testing.assert_allclose(
        probabilities, averaged.predict_on_batch(images.astype("float32")), rtol=1e-4, atol=1e-7
    )
    assert heatmaps is not None and not np.allclose(heatmaps.probabilities, probabilities)


def test_overlay_has_the_images_size_and_leaves_it_alone_without_evidence(
    classifier: Classifier, tmp_path: Path
) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    heatmap = GradCam(classifier.model)(load_image(tmp_path / "wide.png", 32)[None]).maps[0]
    picture = overlay(display_image(tmp_path / "wide.png"), heatmap)
    assert picture.shape == (50, 70, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(overlay(pixels, np.zeros((2, 2))), pixels)
    hot = overlay(pixels, np.ones((2, 2))).astype(int)
    assert np.abs(hot - pixels).mean() > 10  # coloured everywhere
    square = overlay(pixels, np.ones((2, 2)), (10, 5, 40, 35)).astype(int)  # a face's square only
    changed = np.abs(square - pixels).sum(axis=-1) > 0
    assert changed[5:35, 10:40].mean() > 0.9 and not changed[:5].any() and not changed[:, 40:].any()


def test_unknown_layer_and_class_are_named(classifier: Classifier) -> None:
    with pytest.raises(ValueError, match="no layer named 'block9_conv1'"):
        GradCam(classifier.model, "block9_conv1")
    assert class_index(classifier.classes, "SAD") == classifier.classes.index("sad")
    assert class_index(classifier.classes, None) is None
    with pytest.raises(ValueError, match="unknown class 'bored': the model's classes are angry, happy, sad"):
        class_index(classifier.classes, "bored")


def test_output_paths_never_collide(tmp_path: Path) -> None:
    files = [Path("a/face.jpg"), Path("b/face.png"), Path("c/face.jpg"), Path("other.gif")]
    assert [p.name for p in output_paths(files, tmp_path)] == [
        "face_gradcam.png",
        "face_gradcam-2.png",
        "face_gradcam-3.png",
        "other_gradcam.png",
    ]
