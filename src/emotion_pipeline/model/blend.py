"""Transfer that does not forget: a photo model whose base is an emotion classifier that already
answers the photos' classes keeps that classifier's own head beside the one it learns on the photos,
and answers with a blend of the two, weighted by a share chosen on the validation split.

Trained on a few hundred photos alone, a fresh head learns those photos, not emotions: on faces it
never saw it scores far below the face model it started from. The blend can only do as well as the
better of the two on validation (a share of 1 is the face model untouched), and the share is saved in
the model, so every consumer (evaluate, CLI, app, exports) answers alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)  # of the face model's answer; coarse, so 100-odd photos can choose


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class Reorder(keras.layers.Layer):
    """The face model's probabilities in the photo model's class order."""

    def __init__(self, order: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order = [int(index) for index in order]

    def call(self, probabilities: Any) -> Any:
        return keras.ops.take(probabilities, self.order, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "order": self.order}


@keras.saving.register_keras_serializable(package="emotion_pipeline")
class Blend(keras.layers.Layer):
    """`share` x the face model's probabilities + (1 - share) x the photo head's."""

    def __init__(self, share: float, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")  # probabilities stay float32 under mixed precision
        super().__init__(**kwargs)
        self.share = float(share)

    def call(self, inputs: Sequence[Any]) -> Any:
        face, photo = (keras.ops.cast(x, "float32") for x in inputs)
        return self.share * face + (1.0 - self.share) * photo

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "share": self.share}


def class_order(face_classes: Sequence[str], photo_classes: Sequence[str]) -> list[int] | None:
    """Where each photo class sits among the face model's classes (names compared without case:
    web-emotions says Angry where FER2013 says angry); None unless the face model answers every one."""
    index = {name.lower(): position for position, name in enumerate(face_classes)}
    if len(face_classes) != len(photo_classes) or any(n.lower() not in index for n in photo_classes):
        return None
    return [index[name.lower()] for name in photo_classes]


def macro_f1(probabilities: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, probabilities.argmax(axis=1), average="macro", zero_division=0))


def choose_share(face: np.ndarray, photo: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    """The share of the face model's answer with the best validation macro-F1 (ties: the larger
    share, which keeps more of what the face model knew), and every share's score."""
    scores = [macro_f1(share * face + (1 - share) * photo, labels) for share in SHARES]
    best = max(range(len(SHARES)), key=lambda i: (round(scores[i], 6), SHARES[i]))
    return SHARES[best], scores


def blended_head(
    face_head: keras.Model, photo_head: keras.Model, order: list[int], share: float
) -> keras.Model:
    """One head over the shared base's features: the face model's head (frozen, reordered) and the
    photo head, blended. Named `head`, as every classifier's head, so Grad-CAM and the views work."""
    features = keras.Input(photo_head.input_shape[1:], name="features")
    face_head.trainable = False
    face = Reorder(order, name="face_order")(keras.Sequential([face_head], name="face_head")(features))
    photo = keras.Sequential([photo_head], name="photo_head")(features)
    return keras.Model(features, Blend(share, name="blend")([face, photo]), name="head")
