"""Transfer that does not forget: a photo model on a face model's base keeps that model's head beside
its own, blended by the share that scores best on validation, and the blend survives saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from project import ROOT

from emotion_pipeline.core.recipes import compose

FACE_CLASSES = ["angry", "happy", "sad"]
SIZE = 32


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A face classifier (3 classes, 32 px) saved as a `.keras` file, and its base's weights file."""
    from emotion_pipeline.model.network import assemble, build_head, build_vgg16
    from emotion_pipeline.model.runtime import seed_everything

    seed_everything(3)
    folder = tmp_path_factory.mktemp("face")
    base = build_vgg16(None, SIZE)
    head = build_head(base.output_shape[1:], FACE_CLASSES, 8, 0.0)
    assemble(base, head, FACE_CLASSES, SIZE).save(folder / "face.keras")
    base.save_weights(folder / "base.weights.h5")
    return folder / "face.keras", folder / "base.weights.h5"


def network_on(face: tuple[Path, Path], classes: list[str]):
    from emotion_pipeline.training.trainer import Network

    overrides = [f"model.weights={face[0]}", f"image_size={SIZE}", "model.dense_units=8"]
    return Network.build(compose(ROOT / "conf", "baseline", overrides), face[1], classes)


def batches(images: np.ndarray, labels: np.ndarray, classes: int):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((images, np.eye(classes)[labels])).batch(8)


def test_where_the_face_model_is_right_on_validation_the_photo_model_answers_as_it(
    face_model: tuple[Path, Path], tmp_path: Path
) -> None:
    from emotion_pipeline.model.network import load_classifier
    from emotion_pipeline.training.remembering import keep_the_face_model

    photo_classes = ["Sad", "Angry", "Happy"]  # another order and case than the face model's
    face, _, _ = load_classifier(face_model[0])
    images = np.random.default_rng(0).uniform(0, 255, (24, SIZE, SIZE, 3)).astype("float32")
    face_answers = face.predict(images, verbose=0)[:, [2, 0, 1]]  # in the photo model's order
    labels = face_answers.argmax(axis=1)  # validation on which the face model is always right
    network = network_on(face_model, photo_classes)
    kept = keep_the_face_model(network, batches(images, labels, 3), labels)
    assert kept is not network and kept.head.get_layer("blend").share == 1.0
    kept.model().save(tmp_path / "photo.keras")
    saved, classes, _ = load_classifier(tmp_path / "photo.keras")
    assert classes == photo_classes
    np.testing.assert_allclose(saved.predict(images, verbose=0), face_answers, atol=1e-5)


def test_the_share_is_the_best_on_validation_ties_keeping_more_of_the_face_model() -> None:
    from emotion_pipeline.model.blend import choose_share

    labels = np.array([0, 1, 2, 0])
    right, wrong = np.eye(3)[labels], np.eye(3)[(labels + 1) % 3]
    assert choose_share(face=right, photo=wrong, labels=labels)[0] == 1.0
    # A quarter of a wrong answer cannot outweigh three quarters of a right one: as good as 0, and larger.
    assert choose_share(face=wrong, photo=right, labels=labels)[0] == 0.25
    assert choose_share(face=right, photo=right, labels=labels)[0] == 1.0


def test_a_face_model_of_other_classes_leaves_the_photo_model_alone(face_model: tuple[Path, Path]) -> None:
    from emotion_pipeline.training.remembering import keep_the_face_model

    network = network_on(face_model, ["angry", "happy"])
    images = np.zeros((4, SIZE, SIZE, 3), "float32")
    assert keep_the_face_model(network, batches(images, np.array([0, 1, 0, 1]), 2), np.zeros(4)) is network
