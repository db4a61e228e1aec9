"""Where the VGG16 base's starting weights come from: ImageNet (downloaded once, hash-checked), a
weights file, a classifier this pipeline trained (a `.keras` file: transfer from an emotion model), or
none (random), as the `model.weights` param says."""

from __future__ import annotations

import copy
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotion_pipeline.model.layout import VGG16_BLOCKS

if TYPE_CHECKING:
    import keras

VGG16_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
VGG16_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"
VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


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


def base_settings(path: str | Path) -> dict[str, Any]:
    """What a classifier this pipeline saved says about its VGG16, as the params name them: the
    layout (`model.batch_norm`, `model.width_multiplier`), how it saw pixels (`model.grayscale`) and
    the size it was trained at (`image_size`). Read from the `.keras` file's config.json, a zip
    member, so a stage that runs no network reads it without loading TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
        by_class = {layer["class_name"]: layer["config"] for layer in layers}
        vgg16 = next(layer["config"]["layers"] for layer in layers if layer["name"] == "vgg16")
        first = next(layer["config"] for layer in vgg16 if layer["config"]["name"] == "block1_conv1")
        return {
            "image_size": int(by_class["InputLayer"]["batch_shape"][1]),
            "model.batch_norm": any(layer["class_name"] == "BatchNormalization" for layer in vgg16),
            "model.width_multiplier": first["filters"] / VGG16_BLOCKS[0][0],
            "model.grayscale": bool(by_class["VGGPreprocess"]["grayscale"]),
        }
    except (OSError, KeyError, StopIteration, TypeError, ValueError, zipfile.BadZipFile) as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise WeightsUnavailable(
            f"model.weights {path}: not a classifier saved by this pipeline ({reason})"
        ) from None


def follow_base(params: dict[str, Any], stage: str) -> dict[str, Any]:
    """`params` with the base's own settings (`base_settings`) where `model.weights` is a classifier
    this pipeline trained: a transfer cannot run with another layout, and sees pixels as the base
    learnt them, so these follow the file instead of flags kept in step by hand. One line says
    which values were taken from the base; other weights leave `params` as they are. For a stage's
    `main`: a `.keras` file that is not such a classifier ends the stage with one `error:` line."""
    source = Path(str(params["model"]["weights"]))
    if source.suffix != ".keras" or not source.is_file():  # a missing file: the base stage says so
        return params
    try:
        settings = base_settings(source)
    except WeightsUnavailable as error:  # a stage's params: one line, as `stage_params` ends a bad value
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    followed, taken = copy.deepcopy(params), []
    for name, value in settings.items():
        *parents, leaf = name.split(".")
        section = followed
        for parent in parents:
            section = section[parent]
        if section[leaf] != value:
            taken.append(f"{name}={json.dumps(value)} (params: {json.dumps(section[leaf])})")
            section[leaf] = value
    if taken:
        print(f"{stage}: taken from the base {source}: {', '.join(taken)}")
    return followed


def _weighted(model: keras.Model) -> dict[str, list[tuple[int, ...]]]:
    """Each weighted layer's name and its weights' shapes, in order."""
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}


def load_base_weights(base: keras.Model, source: Path) -> None:
    """Load a weights file into the base, or copy in a trained classifier's VGG16 layer by layer.

    Convolution weights do not depend on the input size, so a classifier's VGG16 seeds a base of
    any size. Layers are matched by name (block1_conv1, ...), and both models must have the same
    weighted layers of the same shapes, as a base built from `follow_base`'s params has.
    """
    if source.suffix != ".keras":
        base.load_weights(str(source))
        return
    from emotion_pipeline.model.network import load_classifier

    try:
        trained = load_classifier(source)[0].get_layer("vgg16")
    except Exception as error:  # Keras raises assorted types for a foreign or damaged file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsUnavailable(
            f"model.weights {source}: not a classifier saved by this pipeline ({reason})"
        ) from None
    theirs, ours = _weighted(trained), _weighted(base)
    if list(theirs) != list(ours):
        raise WeightsUnavailable(
            f"model.weights {source}: its VGG16 has the layers {', '.join(theirs)}; "
            f"the base has {', '.join(ours)}"
        )
    other = next((name for name in ours if theirs[name] != ours[name]), None)
    if other is not None:
        raise WeightsUnavailable(
            f"model.weights {source}: its VGG16's {other} has weights of shapes {theirs[other]}, "
            f"the base's {ours[other]}"
        )
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
