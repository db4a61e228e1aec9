"""Where the VGG16 base's starting weights come from: ImageNet (downloaded once, hash-checked), a
weights file, a classifier this pipeline trained (a `.keras` file: transfer from an emotion model), or
none (random), as the `model.weights` param says. A base copied from a classifier that saw grey faces
(FER2013's) says so inside its weights file, so every model built on it sees grey too, whatever
`model.grayscale` says."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

VGG16_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
VGG16_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"
VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
GREY_ATTRIBUTE = "emotion_pipeline_grayscale"  # on a base weights file: it learnt grey faces


class WeightsUnavailable(RuntimeError):
    """The weights cannot be had; the message says how to go on (offline included)."""


def fetch_imagenet_weights(origin: str = VGG16_NOTOP_URL, file_hash: str = VGG16_NOTOP_MD5) -> Path:
    """Download (once per Keras cache) and hash-check the ImageNet VGG16 convolutional weights."""
    import keras

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


def resolve_weights(weights: str) -> Path | None:
    """`imagenet` → Keras' hash-checked download, `none` → random init, anything else → a file."""
    if weights == "imagenet":
        return fetch_imagenet_weights()
    if weights == "none":
        return None
    path = Path(weights)
    if not path.is_file():
        raise WeightsUnavailable(
            f"model.weights file not found: {path} (use imagenet, none, a weights file or a .keras model)"
        )
    return path


def has_batch_norm(model: keras.Model) -> bool:
    """Whether a VGG16 base has BatchNormalization layers (`model.batch_norm`'s layout)."""
    from keras.layers import BatchNormalization

    return any(isinstance(layer, BatchNormalization) for layer in model.layers)


def width_multiplier(model: keras.Model) -> float:
    """A VGG16 base's filters per convolution as a fraction of VGG16's (`model.width_multiplier`)."""
    from emotion_pipeline.model.network import VGG16_BLOCKS

    return model.get_layer("block1_conv1").filters / VGG16_BLOCKS[0][0]


def _weighted(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if layer.weights]


def load_base_weights(base: keras.Model, source: Path) -> bool:
    """Load a weights file into the base, or copy in a trained classifier's VGG16 layer by layer;
    whether the source saw its faces grey (only a classifier can say so: its `VGGPreprocess`).

    Convolution weights do not depend on the input size, so a classifier trained on 48 px FER2013
    faces seeds a base for any `image_size`. Layers are matched by name (block1_conv1, ...), and both
    models must have the same weighted layers: a base with BatchNorm layers takes them only from a
    classifier that has them too.
    """
    if source.suffix != ".keras":
        base.load_weights(str(source))
        return False
    from emotion_pipeline.model.network import VGGPreprocess, load_classifier

    try:
        classifier = load_classifier(source)[0]
        trained = classifier.get_layer("vgg16")
    except Exception as error:  # Keras raises assorted types for a foreign or damaged file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsUnavailable(
            f"model.weights {source}: not a classifier saved by this pipeline ({reason})"
        ) from None
    normalised = has_batch_norm(trained)
    if normalised != has_batch_norm(base):
        raise WeightsUnavailable(
            f"model.weights {source}: its VGG16 {'has' if normalised else 'has no'} BatchNormalization "
            f"layers: set model.batch_norm={'true' if normalised else 'false'} to train on it"
        )
    trained_width, width = width_multiplier(trained), width_multiplier(base)
    if trained_width != width:
        raise WeightsUnavailable(
            f"model.weights {source}: its VGG16 is {trained_width:g} times VGG16's width, the base "
            f"{width:g}: set model.width_multiplier={trained_width:g} to train on it"
        )
    if _weighted(trained) != _weighted(base):
        raise WeightsUnavailable(
            f"model.weights {source}: its VGG16 has the layers {', '.join(_weighted(trained))}; "
            f"the base has {', '.join(_weighted(base))}"
        )
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return any(isinstance(layer, VGGPreprocess) and layer.grayscale for layer in classifier.layers)


def save_base(base: keras.Model, path: str | Path, grey: bool) -> None:
    """Save the base's weights, marked with whether they learnt grey faces: the fact travels (and is
    cached) with the weights, so the stages that build on them need nothing else to read."""
    import h5py

    base.save_weights(str(path))
    with h5py.File(path, "a") as file:
        file.attrs[GREY_ATTRIBUTE] = grey


def learnt_grey(path: str | Path | None) -> bool:
    """Whether a base weights file was marked by `save_base` as having learnt grey faces."""
    if path is None:  # random weights
        return False
    import h5py

    with h5py.File(path, "r") as file:
        return bool(file.attrs.get(GREY_ATTRIBUTE, False))


def grayscale(model: Mapping[str, Any], base_weights: str | Path | None) -> bool:
    """Grey pixels in (`VGGPreprocess`): asked for by `model.grayscale`, or learnt by the base."""
    return bool(model["grayscale"]) or learnt_grey(base_weights)
