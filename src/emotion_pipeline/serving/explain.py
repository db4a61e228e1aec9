"""Grad-CAM: where in an image the evidence for a class lies, for the CLI, the report and the web app.

The gradients of a class's score with respect to the last convolution's activations, times those
activations, summed over channels and rectified, give a coarse map of the image (14x14 for VGG16's
block5_conv3 at 224 px) that is stretched over the picture. That is Grad-CAM with each cell's own
gradient, as HiResCAM (Draelos and Carin, 2020) defines it, rather than one gradient averaged over
the cells per channel: this classifier's head flattens the feature map, so a channel counts for a
class in one place and against it in another, and the average can point away from the evidence.
For a head that averages the map first, the two agree.

The score is the class's logit minus the mean logit (adding one constant to every logit changes no
probability, so only this part means anything), taken before the softmax: a sure model's
probabilities stop at exactly 1 and 0 in float32 and have no gradient left, its logits do. The
calibration's temperature comes after, so the map is the same with or without it. A photo model that
blends two heads (`model.blend`) has no one softmax: its log-probabilities stand in for the logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import keras
import numpy as np
import tensorflow as tf

from emotion_pipeline.model.backends import NOT_EXPLAINABLE
from emotion_pipeline.model.blend import Blend
from emotion_pipeline.model.views import TestTimeViews, ViewMean
from emotion_pipeline.serving.overlays import data_url, heatmap_colours

LAST_CONV = "block5_conv3"  # VGG16's last convolution, inside the classifier's `vgg16` base
VIEWS = (TestTimeViews, ViewMean)


@dataclass(frozen=True)
class Heatmaps:
    """Per image: the map on the layer's grid (0 to 1, peak 1 unless all zero), the probabilities,
    and the class index the map explains."""

    maps: np.ndarray
    probabilities: np.ndarray
    classes: np.ndarray

    @classmethod
    def joined(cls, parts: Sequence[Heatmaps]) -> Heatmaps:
        """Batches' heatmaps as one, in order."""
        return cls(*(np.concatenate([getattr(part, f.name) for part in parts]) for f in fields(cls)))


class _Logits(keras.layers.Layer):
    """A softmax Dense layer's input to its logits, with that layer's own weights."""

    def __init__(self, dense: keras.layers.Dense) -> None:
        super().__init__(name=f"{dense.name}_logits", dtype=dense.dtype_policy)
        self.dense = dense

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        logits = keras.ops.matmul(inputs, self.dense.kernel)
        return logits if self.dense.bias is None else logits + self.dense.bias


def _chain(model: keras.Model, views: bool = False) -> list[keras.layers.Layer]:
    """The model's layers in order, nested models opened up, input layers left out, and unless
    `views`, the test-time views left out too: the map explains the image as it is, not a mean over
    its views."""
    layers: list[keras.layers.Layer] = []
    for part in model.layers:
        if isinstance(part, keras.Model) and not any(isinstance(inner, Blend) for inner in part.layers):
            layers += _chain(part, views)
        elif not isinstance(part, keras.layers.InputLayer) and (views or not isinstance(part, VIEWS)):
            layers.append(part)
    return layers


def gradcam_model(model: keras.Model, layer: str) -> keras.Model:
    """`model`'s input to (the named layer's activations, the logits of its last softmax Dense layer,
    `model`'s output), also where those layers sit in nested models, as block5_conv3 does in the
    classifier's `vgg16` and the softmax in its `head`. The model's layers, opened up, must form a
    chain, as the classifier's and any Sequential's do; they are shared, not copied."""
    chain = _chain(model)
    if layer not in [part.name for part in chain]:
        raise ValueError(f"no layer named {layer!r} in model {model.name!r}")
    softmax = [part for part in chain if getattr(part, "activation", None) is keras.activations.softmax]
    blended = any(isinstance(part, keras.Model) for part in chain)  # a head kept whole: `_chain`
    if not softmax and not blended:
        raise ValueError(f"model {model.name!r} has no Dense layer with a softmax to take the logits of")
    inputs = keras.Input(model.inputs[0].shape[1:])
    x = inputs
    logits = None
    for part in chain:
        if not blended and part is softmax[-1]:
            logits = _Logits(part)(x)
        x = part(x)
        if part.name == layer:
            activations = x
    if logits is None:
        logits = keras.layers.Lambda(lambda p: keras.ops.log(keras.ops.maximum(p, 1e-7)), name="log")(x)
    return keras.Model(inputs, [activations, logits, x], name=f"{model.name}_gradcam")


class GradCam:
    """Grad-CAM on a classifier's `layer` (a convolution), built once per model, for batches of
    images at the model's input size."""

    def __init__(self, model: keras.Model | None, layer: str = LAST_CONV) -> None:
        if model is None:  # a `Classifier` of an export
            raise ValueError(NOT_EXPLAINABLE)
        self.model = gradcam_model(model, layer)
        self.image_size = int(model.input_shape[1])
        # Without test-time views the explained chain is the model, and its probabilities are the answer.
        self.answers_as_model = len(_chain(model)) == len(_chain(model, views=True))

    @tf.function(reduce_retracing=True)
    def _maps(self, images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(images)  # so the activations are on the tape even where the base is frozen
            activations, logits, probabilities = self.model(images, training=False)
            logits = tf.cast(logits, tf.float32)
            predicted = tf.argmax(probabilities, axis=1, output_type=tf.int32)
            chosen = tf.where(targets >= 0, targets, predicted)
            score = tf.gather(logits, chosen, batch_dims=1) - tf.reduce_mean(logits, axis=1)
        # Each image's score depends on its own activations only: one gradient serves the batch.
        gradients = tf.cast(tape.gradient(score, activations), tf.float32)
        maps = tf.nn.relu(tf.reduce_sum(gradients * tf.cast(activations, tf.float32), axis=-1))
        return maps, probabilities, chosen

    def __call__(self, images: np.ndarray, class_index: int | None = None) -> Heatmaps:
        """Heatmaps for uint8 RGB images at the model's size: for class `class_index`, or for each
        image's predicted class when None."""
        targets = np.full(len(images), -1 if class_index is None else class_index, dtype="int32")
        maps, probabilities, chosen = (t.numpy() for t in self._maps(tf.constant(images, "float32"), targets))
        peak = maps.max(axis=(1, 2), keepdims=True)
        maps = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
        return Heatmaps(maps, probabilities.astype("float64"), chosen)


def class_index(classes: Sequence[str], name: str | None) -> int | None:
    """The index of class `name` (any case), None for None; `ValueError` naming the classes if unknown."""
    if name is None:
        return None
    lowered = [c.lower() for c in classes]
    if name.lower() not in lowered:
        raise ValueError(f"unknown class {name!r}: the model's classes are {', '.join(classes)}")
    return lowered.index(name.lower())


def heatmap_answer(result: Heatmaps, classes: Sequence[str], size: int) -> dict[str, str]:
    """The API's `explain`: the class explained, and its heatmap as a `size`-px square PNG data URL,
    transparent where there is no evidence, for a page to lay over its own view of the image."""
    return {
        "class": classes[int(result.classes[0])],
        "image": data_url(heatmap_colours(result.maps[0], size, size)),
    }
