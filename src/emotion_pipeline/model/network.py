"""The report's VGG16 transfer-learning model, with its preprocessing saved inside it.

The saved model takes raw RGB pixels (0-255) at its input size and returns class probabilities, so
training, evaluation, the CLI and the web app cannot preprocess differently (the report scaled
twice in training and once in serving). Its class names travel inside the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from emotion_pipeline.model.layout import VGG16_BLOCKS
from emotion_pipeline.model.views import TestTimeViews, ViewMean

BGR_MEAN = (103.939, 116.779, 123.68)  # ImageNet channel means, as keras' "caffe" mode uses
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's "L" mode: how FER2013's grey faces were made


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class VGGPreprocess(keras.layers.Layer):
    """RGB 0-255 to VGG16's input (BGR, ImageNet mean subtracted), in float32 under any policy; with
    `grayscale`, each pixel's grey first, in all three channels: a base that learnt grey faces
    (FER2013) sees colour photos as it saw its training faces."""

    def __init__(self, grayscale: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.grayscale = grayscale

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        rgb = keras.ops.cast(inputs, "float32")
        if self.grayscale:
            grey = keras.ops.sum(rgb * keras.ops.convert_to_tensor(LUMA, dtype="float32"), axis=-1)
            rgb = keras.ops.repeat(keras.ops.expand_dims(grey, -1), 3, axis=-1)
        bgr = keras.ops.flip(rgb, axis=-1)
        return bgr - keras.ops.convert_to_tensor(BGR_MEAN, dtype="float32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "grayscale": self.grayscale}


class _Stored(keras.layers.Layer):
    """Identity on the probabilities: a layer that exists to carry facts about the model in its file."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return inputs


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class ClassNames(_Stored):
    """Stores the class names inside the model file."""

    def __init__(self, classes: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classes = list(classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "classes": self.classes}


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class Temperature(keras.layers.Layer):
    """softmax(log p / T) on the probabilities: the calibration fitted after training
    (`train.calibrate`), saved in the file so every path answers calibrated. Each row is mapped
    monotonically, so the predicted class never changes."""

    def __init__(self, temperature: float = 1.0, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.temperature = float(temperature)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        floor = float(np.finfo(np.float32).tiny)  # as calibration.FLOOR: log(0) guard
        log_p = keras.ops.log(keras.ops.maximum(keras.ops.cast(inputs, "float32"), floor))
        return keras.ops.softmax(log_p / self.temperature)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class FaceFraming(_Stored):
    """Stores the face settings the model was trained with, so every use of the model crops faces as
    training did, whatever params.yaml says now."""

    def __init__(self, faces: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faces = dict(faces)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "faces": self.faces}


def vgg16_batch_norm(shape: tuple[int | None, ...], width_multiplier: float = 1.0) -> keras.Model:
    """VGG16's convolutional base with BatchNormalization between each convolution and its ReLU, so
    it trains from random weights; VGG16's layer names (block1_conv1 … block5_pool) are kept, so
    blocks unfreeze and weights load by the same names. `width_multiplier` scales every convolution's
    filters (0.5: a quarter of the arithmetic), for a budget that buys more epochs of a narrower net."""
    inputs = keras.Input(shape)
    x = inputs
    for block, widths in enumerate(VGG16_BLOCKS, 1):
        for index, filters in enumerate(widths, 1):
            name = f"block{block}_conv{index}"
            scaled = max(1, round(filters * width_multiplier))
            x = keras.layers.Conv2D(scaled, 3, padding="same", use_bias=False, name=name)(x)
            x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name="vgg16")


def build_vgg16(
    weights: str | Path | None,
    image_size: int | None = None,
    batch_norm: bool = False,
    width_multiplier: float = 1.0,
) -> keras.Model:
    """VGG16's convolutional base (with BatchNormalization, and narrower, if asked: check_params
    allows a width multiplier only with BatchNorm); `weights` is None (random), or a weights file of
    the same architecture to load."""
    shape = (image_size, image_size, 3) if image_size else (None, None, 3)
    if batch_norm:
        base = vgg16_batch_norm(shape, width_multiplier)
    else:
        base = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    if weights is not None:
        base.load_weights(str(weights))
    return base


def feature_extractor(base: keras.Model, image_size: int, grayscale: bool = False) -> keras.Model:
    """Raw RGB images to the frozen base's feature maps: what the feature cache stores."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    return keras.Model(inputs, base(VGGPreprocess(grayscale, name="vgg16_preprocess")(inputs)))


def build_head(feature_shape: tuple[int, ...], classes: list[str], units: int, dropout: float) -> keras.Model:
    """The report's head: Flatten, Dense(units, relu), Dropout, Dense(n, softmax in float32)."""
    return keras.Sequential(
        [
            keras.Input(feature_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(len(classes), activation="softmax", dtype="float32"),
        ],
        name="head",
    )


def assemble(
    base: keras.Model,
    head: keras.Model,
    classes: list[str],
    image_size: int,
    augmentation: keras.Sequential | None = None,
    tta: bool = False,
    faces: dict[str, Any] | None = None,
    grayscale: bool = False,
) -> keras.Model:
    """The saved classifier: raw RGB in, probabilities out, class names inside; with `tta`, the
    probabilities are the mean over each image's test-time views (assemble it after training); the
    face settings inside where it was trained on face crops (`faces.settings_config`); `grayscale`
    as `VGGPreprocess` takes it."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    views = TestTimeViews(name="tta_views") if tta else None
    if views is not None:
        x = views(x)
    x = head(base(VGGPreprocess(grayscale, name="vgg16_preprocess")(x)))
    if views is not None:
        x = ViewMean(views.count, name="tta_mean")(x)
    outputs = ClassNames(classes, name="class_names")(x)
    if faces and faces["detect"]:
        outputs = FaceFraming(faces, name="face_framing")(outputs)
    return keras.Model(inputs, outputs, name="emotion_classifier")


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """The classifier with a `Temperature` layer on its output."""
    outputs = Temperature(temperature, name="temperature")(model.outputs[0])
    return keras.Model(model.inputs, outputs, name=model.name)


def temperature_of(model: keras.Model) -> float:
    """The temperature a saved classifier answers with: 1.0 when it was not calibrated."""
    return next((layer.temperature for layer in model.layers if isinstance(layer, Temperature)), 1.0)


def trained_precision(model: keras.Model) -> str:
    """The dtype policy the classifier was trained and saved with (`float32` or `mixed_bfloat16`):
    the file records it, so a model pulled from a remote says what `precision: auto` became."""
    base = model.get_layer("vgg16")
    return next(layer.dtype_policy.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D))


def saved_faces(model: keras.Model) -> dict[str, Any]:
    """The face settings a classifier was trained with; `{"detect": False}` (whole images) for one
    trained without face detection."""
    return next((layer.faces for layer in model.layers if isinstance(layer, FaceFraming)), {"detect": False})


def load_classifier(path: str | Path) -> tuple[keras.Model, list[str], int]:
    """Load a saved classifier: the model, its class names and its input size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (run `dvc repro` to train one)")
    model = keras.models.load_model(path, compile=False)
    names = next(layer.classes for layer in model.layers if isinstance(layer, ClassNames))
    return model, names, int(model.input_shape[1])
