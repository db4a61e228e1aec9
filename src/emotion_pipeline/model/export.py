"""The classifier as portable files: ONNX and TFLite, each in float32 and in int8, for runtimes
without TensorFlow (`model/backends.py` loads them).

One graph goes into every file: the Keras model called on raw RGB pixels, so preprocessing,
test-time views and the temperature travel inside it, with a dynamic batch; the facts serving
reads (`ModelFacts`) travel as metadata. ONNX comes from Keras' own `model.export(format="onnx")`
(tf2onnx); TFLite from TensorFlow's converter on the same function with its variables frozen
(Keras' `format="litert"` keeps resource variables and TensorFlow ops, which LiteRT's interpreter
cannot run alone).

int8 is post-training static quantization of the convolutions and dense layers (weights per
channel, activations' ranges measured on images the model was validated on): ONNX Runtime's
`quantize_static` (QDQ) and the TFLite converter's representative dataset. Both keep the softmaxes,
the views' mean and the temperature in float (else probabilities come in steps of 1/256), with float
pixels in and float probabilities out, as the float files. A model trained in mixed bfloat16 is
exported in float32 (neither runtime runs bfloat16 well on CPUs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from emotion_pipeline.data.images import load_image
from emotion_pipeline.data.splitting import read_split
from emotion_pipeline.model.backends import METADATA_KEY, ModelFacts, keras_facts
from emotion_pipeline.model.views import AUGMENTATION

EXPORTS = ("model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite")  # in an export folder
OPSET = 17  # ONNX opset: ONNX Runtime 1.16 and later run it
INPUT = "image"  # the graphs' input name, as the Keras model's
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]  # ONNX: the arithmetic; the rest (softmaxes, views) stays float
FLOAT_OPS = ["SOFTMAX", "LOG", "MEAN", "MAXIMUM", "DIV"]  # TFLite: probabilities, views' mean, temperature
CALIBRATION_BATCH = 8  # rows per calibration call (each call's ranges are reduced to a min and max)


def float32_model(model: keras.Model) -> keras.Model:
    """The model with every layer computing in float32 (a copy where it was trained in mixed precision)."""
    config = model.get_config()
    if "mixed_bfloat16" not in str(config):
        return model

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return "float32" if value == "mixed_bfloat16" else value

    copy = model.__class__.from_config(plain(config))
    copy.set_weights(model.get_weights())
    return copy


def without_augmentation(model: keras.Model) -> keras.Model:
    """The classifier as it answers: its layers in order, less the training augmentation. That layer
    is the identity outside training, but its random ops stay in a traced graph, and neither ONNX nor
    TFLite runs them. The classifier is a chain of layers (`network.assemble`), so calling them in turn
    rebuilds it, sharing their weights."""
    if AUGMENTATION not in [layer.name for layer in model.layers]:
        return model
    inputs = keras.Input(model.inputs[0].shape[1:], name=model.inputs[0].name)
    x = inputs
    for layer in model.layers[1:]:
        if layer.name != AUGMENTATION:
            x = layer(x)
    return keras.Model(inputs, x, name=model.name)


def input_spec(facts: ModelFacts) -> tf.TensorSpec:
    return tf.TensorSpec((None, facts.image_size, facts.image_size, 3), tf.float32, name=INPUT)


def export_onnx(model: keras.Model, facts: ModelFacts, path: Path) -> None:
    """The float ONNX file, facts in its metadata_props."""
    model.export(
        str(path), format="onnx", input_signature=[input_spec(facts)], opset_version=OPSET, verbose=False
    )
    _stamp_onnx(path, facts)


def _stamp_onnx(path: Path, facts: ModelFacts) -> None:
    import onnx

    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {METADATA_KEY: facts.to_json()})
    onnx.save(proto, str(path))


def quantize_onnx(float_path: Path, rows: np.ndarray, facts: ModelFacts, path: Path) -> None:
    """int8 ONNX from the float file: weights per channel, activations' ranges from `rows`.

    The first convolution stays float: it sees three channels of raw pixels and holds a few hundred
    weights, and rounding it cost most of the int8 loss on the quick start's quarter-width model
    (whatever the calibration: MinMax, percentile and entropy lost alike), for almost none of the
    file's size."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Rows(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = (
                {INPUT: rows[i : i + CALIBRATION_BATCH].astype("float32")}
                for i in range(0, len(rows), CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(
        str(float_path),
        str(path),
        Rows(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=QUANTIZED_OPS,
        nodes_to_exclude=[next(n.name for n in onnx.load(str(float_path)).graph.node if n.op_type == "Conv")],
    )
    _stamp_onnx(path, facts)


def export_tflite(
    model: keras.Model,
    facts: ModelFacts,
    path: Path,
    rows: np.ndarray | None = None,
    float_file: Path | None = None,
) -> None:
    """The TFLite file, float32 or, with calibration `rows`, int8 (then `float_file` is the float one,
    whose first layers the int8 file keeps); facts in its metadata."""
    from tensorflow.lite.tools import flatbuffer_utils
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda image: model(image, training=False), input_signature=[input_spec(facts)])
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if rows is None:
        content = converter.convert()
    else:

        def representative() -> Iterator[list[np.ndarray]]:
            for row in rows:
                yield [row[None].astype("float32")]

        if float_file is None:
            raise ValueError("an int8 TFLite export needs the float file, whose first layers it keeps")
        kept_float = _up_to_the_first_convolution(float_file.read_bytes())
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        # The converter alone would quantize the softmaxes too (probabilities in steps of 1/256):
        # its debugger is TensorFlow's way to keep chosen ops in float. The preprocessing and the first
        # convolution stay float too, as in the int8 ONNX file (`quantize_onnx` says why); rounded,
        # they cost the quick start's model most of its int8 loss here as well.
        options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=FLOAT_OPS, denylisted_nodes=kept_float
        )
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative, debug_options=options
        )
        content = debugger.get_nondebug_quantized_model()
    flat = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    buffer = flatbuffer_utils.schema_fb.BufferT()
    buffer.data = np.frombuffer(facts.to_json().encode(), dtype=np.uint8)
    flat.buffers.append(buffer)
    entry = flatbuffer_utils.schema_fb.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(flat.buffers) - 1
    flat.metadata = [*(flat.metadata or []), entry]
    path.write_bytes(flatbuffer_utils.convert_object_to_bytearray(flat))


def _up_to_the_first_convolution(content: bytes) -> list[str]:
    """The output tensors' names of a float TFLite model's operators up to its first CONV_2D, that one
    included (the preprocessing and the first convolution): the debugger's node names."""
    from tensorflow.lite.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = flat.subgraphs[0]
    conv = flatbuffer_utils.schema_fb.BuiltinOperator.CONV_2D
    names = []
    for operator in graph.operators:
        names += [graph.tensors[index].name.decode() for index in operator.outputs]
        code = flat.operatorCodes[operator.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == conv:
            return names
    raise ValueError("the model has no convolution")


def export_model(model: keras.Model, out_dir: str | Path, rows: np.ndarray | None) -> list[Path]:
    """Write the float ONNX and TFLite files into `out_dir` and, with calibration `rows` (uint8 RGB at
    the model's size), the int8 ones; returns the paths written, in EXPORTS' order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    facts = keras_facts(model)
    model = without_augmentation(float32_model(model))
    onnx_path, onnx_int8, tflite_path, tflite_int8 = (out / name for name in EXPORTS)
    export_onnx(model, facts, onnx_path)
    export_tflite(model, facts, tflite_path)
    if rows is None:
        return [onnx_path, tflite_path]
    quantize_onnx(onnx_path, rows, facts, onnx_int8)
    export_tflite(model, facts, tflite_int8, rows, float_file=tflite_path)
    return [onnx_path, onnx_int8, tflite_path, tflite_int8]


def calibration_rows(split_csv: str | Path, image_size: int, count: int) -> np.ndarray:
    """Up to `count` images of a split list, evenly spaced through it (so every class is drawn), as
    uint8 rows at the model's size: the crops or whole images the model was validated on."""
    paths, _ = read_split(split_csv)
    chosen = sorted({round(i) for i in np.linspace(0, len(paths) - 1, min(count, len(paths)))})
    return np.stack([load_image(paths[i], image_size) for i in chosen])
