"""After a photo model has learnt its head on a face model's base, keep the face model's own head
beside it where the face model already answers the photos' classes (`model.blend`): the share of
the face model's answer in the saved classifier is the one with the best validation macro-F1, so the
photo model can only gain on the photos, and keeps what the face model knew."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from emotion_pipeline.model.blend import SHARES, blended_head, choose_share, class_order
from emotion_pipeline.model.network import load_classifier
from emotion_pipeline.training.trainer import Network


def face_classifier(weights: str) -> tuple[Any, list[str]] | None:
    """The emotion classifier `model.weights` names (a `.keras` file), with its class names; None for
    ImageNet, random or plain weights files."""
    if Path(weights).suffix != ".keras" or not Path(weights).is_file():
        return None
    model, classes, _ = load_classifier(weights)
    return model, classes


def keep_the_face_model(network: Network, validation: tf.data.Dataset, labels: np.ndarray) -> Network:
    """Where `model.weights` is a classifier answering the network's classes, the network with the
    blend of that classifier's head and its own for head, the share chosen on `validation` (images,
    one-hot) whose class indices are `labels`; else the network as it is. Prints each share's
    validation macro-F1."""
    found = face_classifier(str(network.params["model"]["weights"]))
    order = class_order(found[1], network.classes) if found else None
    if order is None:
        return network
    face_head = found[0].get_layer("head")
    alone = {  # the photo head alone (share 0), the face model's head alone (share 1)
        share: replace(network, head=blended_head(face_head, network.head, order, share)).model()
        for share in (0.0, 1.0)
    }
    probabilities = {share: model.predict(validation, verbose=0) for share, model in alone.items()}
    share, scores = choose_share(probabilities[1.0], probabilities[0.0], labels)
    shown = ", ".join(f"{s:g}: {f1:.3f}" for s, f1 in zip(SHARES, scores, strict=True))
    print(f"train: the face model's share of the answer {share:g} (validation macro-F1 by share: {shown})")
    return replace(network, head=blended_head(face_head, network.head, order, share))
