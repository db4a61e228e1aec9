"""The saved model: preprocessing inside, class names inside, and the weights download path."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format
from PIL import Image
from project import params_with

from emotion_pipeline.data.images import load_image
from emotion_pipeline.model.network import BGR_MEAN, assemble, build_head, build_vgg16, load_classifier
from emotion_pipeline.model.views import build_augmentation
from emotion_pipeline.model.weights import WeightsUnavailable, fetch_imagenet_weights
from emotion_pipeline.serving.predict import Classifier

CLASSES = ["angry", "happy", "sad"]
AUGMENT = params_with({})["augment"]  # the report's shifts and flips


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keras.Model]:
    keras.utils.set_random_seed(0)
    base = build_vgg16(None, 32)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.4)
    model = assemble(base, head, CLASSES, 32, build_augmentation(AUGMENT, 0))
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path, model


@pytest.mark.slow
def test_saved_model_matches_loading_the_image_by_hand(saved_model, tmp_path: Path) -> None:
    path, original = saved_model
    image_path = tmp_path / "face.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(image_path)

    # By hand: decode, resize, RGB→BGR, subtract the ImageNet means, run the base and the head.
    pixels = np.asarray(Image.open(image_path).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    by_hand = pixels[None, ..., ::-1].astype("float32") - np.array(BGR_MEAN, dtype="float32")
    base = original.get_layer("vgg16")
    expected = original.get_layer("head")(base(by_hand)).numpy()[0]

    model, classes, size = load_classifier(path)
    assert (classes, size) == (CLASSES, 32)
    through_model = model.predict(load_image(image_path, size)[None], verbose=0)[0]
    through_classifier = Classifier(path).predict_files([image_path]).probabilities[0]
    np.testing.assert_allclose(through_model, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(through_classifier, expected, rtol=1e-5, atol=1e-6)
    assert through_model.sum() == pytest.approx(1.0, abs=1e-5)


def test_augmentation_is_active_in_training_only(saved_model) -> None:
    """At inference the model is preprocessing, base and head alone; in training the augmentation
    moves and flips the pixels, so the answer changes."""
    _, model = saved_model
    image = np.random.default_rng(2).integers(0, 256, (1, 32, 32, 3)).astype("float32")
    by_hand = image[..., ::-1] - np.array(BGR_MEAN, dtype="float32")
    without = model.get_layer("head")(model.get_layer("vgg16")(by_hand)).numpy()
    np.testing.assert_allclose(model(image, training=False).numpy(), without, rtol=1e-5, atol=1e-6)
    augmented = model.get_layer("augmentation")(image, training=True).numpy()
    assert not np.array_equal(augmented, image)


@pytest.mark.slow
def test_a_grayscale_model_sees_a_colour_photo_as_its_grey_copy(tmp_path: Path) -> None:
    """`model.grayscale`: the saved model turns colour into Pillow's grey ("L") in all three channels
    before VGG16, so a base that learnt FER2013's grey faces gets what it learnt; off, colour counts."""
    keras.utils.set_random_seed(0)
    base = build_vgg16(None, 32)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    colour = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    grey = np.stack([np.asarray(Image.fromarray(image).convert("L").convert("RGB")) for image in colour])
    path = tmp_path / "grey.keras"
    assemble(base, head, CLASSES, 32, grayscale=True).save(path)
    model = load_classifier(path)[0]
    assert model.get_layer("vgg16_preprocess").grayscale is True
    by_hand = head(base(grey[..., ::-1].astype("float32") - np.array(BGR_MEAN, dtype="float32"))).numpy()
    np.testing.assert_allclose(model.predict(colour, verbose=0), by_hand, atol=2e-3)  # Pillow rounds to 0-255
    in_colour = assemble(base, head, CLASSES, 32).predict(colour, verbose=0)
    assert np.abs(in_colour - by_hand).max() > 1e-2


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_classifier(tmp_path / "nope.keras")


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_weights_download_checks_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real download path (Keras' get_file with a hash) against a loopback server."""
    served = tmp_path / "served"
    served.mkdir()
    weights = served / "vgg16_notop.h5"  # the legacy HDF5 layout of Keras' published file
    with h5py.File(weights, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, build_vgg16(None))
    md5 = hashlib.md5(weights.read_bytes()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Files(*a, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/vgg16_notop.h5"
    try:
        with pytest.raises(WeightsUnavailable, match=r"place .* in .*keras/models/.*model.weights=none"):
            fetch_imagenet_weights(url, "0" * 32)
        downloaded = fetch_imagenet_weights(url, md5)
    finally:
        server.shutdown()
    assert downloaded.read_bytes() == weights.read_bytes()
    base = build_vgg16(downloaded, 32)
    np.testing.assert_array_equal(
        base.get_layer("block5_conv3").kernel.numpy(),
        build_vgg16(weights).get_layer("block5_conv3").kernel.numpy(),
    )


def test_offline_imagenet_fails_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable) as caught:
        fetch_imagenet_weights("http://127.0.0.1:9/unreachable.h5")
    assert "\n" not in str(caught.value)
    assert "model.weights=none" in str(caught.value)
