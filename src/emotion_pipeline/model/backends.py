"""A saved classifier in any of its formats behind one interface: the Keras file, or its ONNX and
TFLite exports (`model/export.py`), which run on ONNX Runtime or LiteRT without TensorFlow.

An export carries what the Keras file carries: preprocessing, test-time views and the temperature
inside its graph, and the facts serving reads (class names, input size, face settings, training
precision) as one JSON metadata entry under METADATA_KEY. So every format takes the same raw RGB
pixels and answers the same probabilities, and TensorFlow is imported only for a `.keras` file: a
server of an export starts in a fraction of the time and memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

METADATA_KEY = "emotion_pipeline"  # the exports' metadata entry: `ModelFacts` as JSON
SUFFIXES = (".keras", ".onnx", ".tflite")
NOT_EXPLAINABLE = "explain needs the Keras model (.keras): an ONNX or TFLite export carries no gradients"


class ModelFileError(ValueError):
    """A model file that cannot be used: wrong suffix, damaged, or an export without our metadata."""


@dataclass(frozen=True)
class ModelFacts:
    """What serving needs to know about a classifier besides its graph."""

    classes: list[str]
    image_size: int
    faces: dict[str, Any]  # `faces.settings_config`'s form: {"detect": False} for whole images
    precision: str  # the dtype policy it was trained with
    temperature: float  # informative: the graph applies it

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelFacts:
        return cls(**json.loads(text))


def keras_facts(model: Any) -> ModelFacts:
    """The facts a Keras classifier carries in its layers."""
    from emotion_pipeline.model.network import saved_faces, temperature_of, trained_precision

    classes = next(layer.classes for layer in model.layers if hasattr(layer, "classes"))
    return ModelFacts(
        list(classes),
        int(model.input_shape[1]),
        saved_faces(model),
        trained_precision(model),
        temperature_of(model),
    )


class Backend:
    """A loaded classifier: `predict` maps float32 RGB batches at `facts.image_size` to probabilities.
    `keras` is the Keras model where there is one (Grad-CAM needs it), else None."""

    facts: ModelFacts
    keras: Any = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class KerasBackend(Backend):
    def __init__(self, path: Path) -> None:
        from emotion_pipeline.model.network import load_classifier

        self.keras = load_classifier(path)[0]
        self.facts = keras_facts(self.keras)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.keras.predict_on_batch(batch))


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _facts(text: str | bytes | None, path: Path) -> ModelFacts:
    if text is None:
        raise ModelFileError(f"{path} has no {METADATA_KEY} metadata: not a file `emotion export` wrote")
    return ModelFacts.from_json(text)


class OnnxBackend(Backend):
    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are about graph rewrites
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.facts = _facts(self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), path)
        self.input = self.session.get_inputs()[0].name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: batch})[0]


class TFLiteBackend(Backend):
    """LiteRT's interpreter; its input is resized to each batch's size (the graph's batch is dynamic)."""

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        content = path.read_bytes()
        self.interpreter = Interpreter(model_content=content, num_threads=_threads())  # verifies the file
        self.facts = _facts(tflite_metadata(content).get(METADATA_KEY), path)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.shape: tuple[int, ...] = ()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape != self.shape:
            self.interpreter.resize_tensor_input(self.input, batch.shape)
            self.interpreter.allocate_tensors()
            self.shape = batch.shape
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def tflite_metadata(content: bytes) -> dict[str, bytes]:
    """A TFLite file's metadata entries, name to bytes (its flatbuffer's `metadata` list)."""
    from ai_edge_litert.schema_py_generated import Model

    model = Model.GetRootAs(content, 0)
    entries = (model.Metadata(i) for i in range(model.MetadataLength()))
    return {e.Name().decode(): model.Buffers(e.Buffer()).DataAsNumpy().tobytes() for e in entries}


BACKENDS: dict[str, type[Backend]] = {".keras": KerasBackend, ".onnx": OnnxBackend, ".tflite": TFLiteBackend}


def open_backend(path: str | Path) -> Backend:
    """The classifier in `path`, by its suffix; a missing, damaged or foreign file raises an error whose
    first line says why (`FileNotFoundError`, `ModelFileError`, or the runtime's own)."""
    path = Path(path)
    if path.suffix not in BACKENDS:
        raise ModelFileError(f"{path}: a model file ends in {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (run `dvc repro` to train one)")
    return BACKENDS[path.suffix](path)
