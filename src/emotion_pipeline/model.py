"""The report's VGG16 transfer-learning model, with its preprocessing saved inside it.

The saved model takes raw RGB pixels (0-255) at its input size and returns class probabilities, so
training, evaluation, the CLI and the web app cannot preprocess differently (the report scaled
twice in training and once in serving). Its class names travel inside the same file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

VGG16_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
VGG16_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"
VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
BGR_MEAN = (103.939, 116.779, 123.68)  # ImageNet channel means, as keras' "caffe" mode uses


class WeightsUnavailable(RuntimeError):
    """The ImageNet weights could not be fetched; the message says how to go on offline."""


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class VGGPreprocess(keras.layers.Layer):
    """RGB 0-255 to VGG16's input (BGR, ImageNet mean subtracted), in float32 under any policy."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        bgr = keras.ops.flip(keras.ops.cast(inputs, "float32"), axis=-1)
        return bgr - keras.ops.convert_to_tensor(BGR_MEAN, dtype="float32")


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class ClassNames(keras.layers.Layer):
    """Identity on the probabilities; it exists to store the class names inside the model file."""

    def __init__(self, classes: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.classes = list(classes)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "classes": self.classes}


def fetch_imagenet_weights(origin: str = VGG16_NOTOP_URL, file_hash: str = VGG16_NOTOP_MD5) -> Path:
    """Download (once per Keras cache) and hash-check the ImageNet VGG16 convolutional weights."""
    try:
        return Path(
            keras.utils.get_file(VGG16_NOTOP_FILE, origin, file_hash=file_hash, cache_subdir="models")
        )
    except Exception as error:  # get_file raises bare Exception for network and hash failures
        target = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsUnavailable(
            f"could not download the VGG16 ImageNet weights ({reason}): place "
            f"{VGG16_NOTOP_FILE} in {target}/, or set model.weights to a weights file, "
            "or set model.weights=none for random weights"
        ) from None


def build_vgg16(weights: str | Path | None, image_size: int | None = None) -> keras.Model:
    """VGG16's convolutional base; `weights` is None (random), or a weights file to load."""
    shape = (image_size, image_size, 3) if image_size else (None, None, 3)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    if weights is not None:
        base.load_weights(str(weights))
    return base


def feature_extractor(base: keras.Model, image_size: int) -> keras.Model:
    """Raw RGB images to the frozen base's feature maps: what the feature cache stores."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    return keras.Model(inputs, base(VGGPreprocess(name="vgg16_preprocess")(inputs)))


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


def build_augmentation(augment: dict[str, Any], seed: int) -> keras.Sequential:
    """The report's augmentation: random shifts and flips, active only while training."""
    flips = [
        name
        for name, on in (("horizontal", augment["horizontal_flip"]), ("vertical", augment["vertical_flip"]))
        if on
    ]
    layers: list[keras.layers.Layer] = [
        keras.layers.RandomTranslation(
            augment["height_shift"], augment["width_shift"], fill_mode="nearest", seed=seed
        )
    ]
    if flips:
        layers.append(keras.layers.RandomFlip("_and_".join(flips), seed=seed + 1))
    return keras.Sequential(layers, name="augmentation")


def assemble(
    base: keras.Model,
    head: keras.Model,
    classes: list[str],
    image_size: int,
    augmentation: keras.Sequential | None = None,
) -> keras.Model:
    """The saved classifier: raw RGB in, probabilities out, class names inside."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    x = base(VGGPreprocess(name="vgg16_preprocess")(x))
    outputs = ClassNames(classes, name="class_names")(head(x))
    return keras.Model(inputs, outputs, name="emotion_classifier")


def load_classifier(path: str | Path) -> tuple[keras.Model, list[str], int]:
    """Load a saved classifier: the model, its class names and its input size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (run `dvc repro` to train one)")
    model = keras.models.load_model(path, compile=False)
    names = next(layer.classes for layer in model.layers if isinstance(layer, ClassNames))
    return model, names, int(model.input_shape[1])


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has AMX or AVX512-BF16, which make bfloat16 several times faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def set_precision(precision: str) -> str:
    """Set Keras' global dtype policy from the `precision` param; returns the policy used."""
    if precision == "auto":
        gpus = tf.config.list_physical_devices("GPU")
        fast = (
            all(
                tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) >= (8, 0)
                for g in gpus
            )
            if gpus
            else cpu_has_fast_bf16()
        )
        precision = "mixed_bfloat16" if fast else "float32"
    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision must be float32, mixed_bfloat16 or auto, not {precision!r}")
    keras.mixed_precision.set_global_policy(precision)
    return precision


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def distribution_strategy() -> tf.distribute.Strategy:
    """Mirror training over every visible GPU when there are several; the default otherwise."""
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
