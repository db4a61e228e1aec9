"""MTCNN's three networks (P-, R- and O-Net) as ONNX graphs that onnxruntime runs: face detection
without TensorFlow.

The `mtcnn` package defines its networks as Keras models, so using it imports TensorFlow: seconds of
start-up and hundreds of MiB in a server that otherwise serves an ONNX or TFLite export without it.
Its weights, though, are plain NumPy arrays in joblib files inside the wheel, listed in the order
Keras' `get_weights()` gives them. This module reads them without importing the package (whose
`__init__` imports TensorFlow) and rebuilds each network layer for layer as an in-memory ONNX graph:
the same convolutions, PReLUs, max-pools padded as Keras' "same" pads (the extra row and column at
the end), the same feature order into the dense layers (Keras permutes its maps to width-major before
flattening), the same softmax. `face_cascade` runs the detection steps around them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

OPSET = 13  # Softmax over one named axis, as Keras' softmax on the last one
IR_VERSION = 8  # what every onnxruntime from 1.20 on reads, whatever onnx version built the graph
# Threads per network: one. Callers detect in parallel threads (the server's requests, the CLI's pool),
# and on a busy CPU onnxruntime's spinning workers cost more than they save (a 640 x 480 copy: 330 ms
# with two, 115 ms with one, 2 cores under load).
THREADS = 1


def weights_dir() -> Path:
    """The `mtcnn` wheel's weights folder, found without executing the package: `find_spec` of a
    top-level package only locates it."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the mtcnn package (its wheel holds MTCNN's weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"


def load_weights(network: str) -> list[np.ndarray]:
    """A network's arrays ("pnet", "rnet" or "onet"), as Keras' `get_weights()` lists them."""
    import joblib  # a dependency of mtcnn's; imported here, where it is needed

    return [np.asarray(array, dtype=np.float32) for array in joblib.load(weights_dir() / f"{network}.lz4")]


class _GraphBuilder:
    """Nodes and weights of one ONNX graph, each node's output named after it: the layers below read
    like the Keras models they copy."""

    def __init__(self, weights: Sequence[np.ndarray]) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.weights = iter(weights)  # consumed in Keras' order, layer by layer

    def constant(self, array: np.ndarray) -> str:
        from onnx import numpy_helper

        name = f"w{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type: str, inputs: list[str], output: str | None = None, **attributes: object) -> str:
        from onnx import helper

        output = output or f"{op_type.lower()}{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
        return output

    def conv(self, x: str, output: str | None = None) -> str:
        """Keras' Conv2D, "valid" padding, stride 1: kernel (h, w, in, out) becomes ONNX's (out, in, h, w)."""
        kernel, bias = next(self.weights), next(self.weights)
        weights = [self.constant(kernel.transpose(3, 2, 0, 1)), self.constant(bias)]
        return self.node("Conv", [x, *weights], output)

    def prelu(self, x: str) -> str:
        """Keras' PReLU: one slope per channel, shaped to broadcast over (n, c, h, w) or (n, c)."""
        slope = next(self.weights)
        channels = slope.shape[-1]
        shape = (channels, 1, 1) if slope.ndim == 3 else (channels,)
        return self.node("PRelu", [x, self.constant(slope.reshape(shape))])

    def max_pool(self, x: str, size: int, same: bool) -> str:
        """Keras' MaxPooling2D, stride 2: "same" pads the end (SAME_UPPER) and rounds the size up."""
        padding = "SAME_UPPER" if same else "VALID"
        return self.node("MaxPool", [x], kernel_shape=[size, size], strides=[2, 2], auto_pad=padding)

    def flatten_as_keras(self, x: str) -> str:
        """Keras' Permute((2, 1, 3)) then Flatten on (n, h, w, c): features in (w, h, c) order."""
        return self.node("Flatten", [self.node("Transpose", [x], perm=[0, 3, 2, 1])], axis=1)

    def dense(self, x: str, output: str | None = None) -> str:
        kernel, bias = next(self.weights), next(self.weights)
        return self.node("Gemm", [x, self.constant(kernel), self.constant(bias)], output)

    def model(self, outputs: list[str], fixed_side: int | None) -> bytes:
        """The serialized model: input "image", NHWC float32 (Keras' layout) of any batch, of any
        height and width unless `fixed_side`."""
        from onnx import TensorProto, helper  # on first use: onnx loads ml_dtypes, 1.3 s on 2 cores

        if next(self.weights, None) is not None:
            raise ValueError("MTCNN's weights do not fit its layers: more arrays than layers use")
        height, width = fixed_side or "h", fixed_side or "w"
        image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", height, width, 3])
        results = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs]
        graph = helper.make_graph(self.nodes, "mtcnn", [image], results, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        return model.SerializeToString()


def pnet_model(weights: Sequence[np.ndarray]) -> bytes:
    """P-Net: a 12 px window every 2 px of an image of any size. Outputs "regression" (n, 4, h', w')
    and "face" (n, 2, h', w'), channel 1 the face's probability."""
    net = _GraphBuilder(weights)
    x = net.node("Transpose", ["image"], perm=[0, 3, 1, 2])
    x = net.max_pool(net.prelu(net.conv(x)), 2, same=True)
    x = net.prelu(net.conv(net.prelu(net.conv(x))))
    net.conv(x, "regression")
    net.node("Softmax", [net.conv(x)], "face", axis=1)
    return net.model(["regression", "face"], fixed_side=None)


def rnet_model(weights: Sequence[np.ndarray]) -> bytes:
    """R-Net: one 24 x 24 crop per candidate. Outputs "regression" (n, 4) and "face" (n, 2)."""
    net = _GraphBuilder(weights)
    x = net.node("Transpose", ["image"], perm=[0, 3, 1, 2])
    x = net.max_pool(net.prelu(net.conv(x)), 3, same=True)
    x = net.max_pool(net.prelu(net.conv(x)), 3, same=False)
    x = net.prelu(net.dense(net.flatten_as_keras(net.prelu(net.conv(x)))))
    net.dense(x, "regression")
    net.node("Softmax", [net.dense(x)], "face", axis=1)
    return net.model(["regression", "face"], fixed_side=24)


def onet_model(weights: Sequence[np.ndarray]) -> bytes:
    """O-Net: one 48 x 48 crop per candidate. Outputs "regression" (n, 4), "landmarks" (n, 10: five
    x then five y, each a fraction of the crop) and "face" (n, 2)."""
    net = _GraphBuilder(weights)
    x = net.node("Transpose", ["image"], perm=[0, 3, 1, 2])
    x = net.max_pool(net.prelu(net.conv(x)), 3, same=True)
    x = net.max_pool(net.prelu(net.conv(x)), 3, same=False)
    x = net.max_pool(net.prelu(net.conv(x)), 2, same=True)
    x = net.prelu(net.dense(net.flatten_as_keras(net.prelu(net.conv(x)))))
    net.dense(x, "regression")
    net.dense(x, "landmarks")
    net.node("Softmax", [net.dense(x)], "face", axis=1)
    return net.model(["regression", "landmarks", "face"], fixed_side=48)


class Network:
    """One network's onnxruntime session. `run` is thread-safe (onnxruntime's sessions are), so one
    instance serves every thread."""

    def __init__(self, model: bytes, threads: int = THREADS) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.outputs = [output.name for output in self.session.get_outputs()]

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs by name for a float32 NHWC batch, pixels scaled as MTCNN scales them."""
        results = self.session.run(self.outputs, {"image": np.ascontiguousarray(images, dtype=np.float32)})
        return dict(zip(self.outputs, results, strict=True))


def networks(threads: int = THREADS) -> tuple[Network, Network, Network]:
    """P-, R- and O-Net, built from the wheel's weights."""
    return (
        Network(pnet_model(load_weights("pnet")), threads),
        Network(rnet_model(load_weights("rnet")), threads),
        Network(onet_model(load_weights("onet")), threads),
    )
