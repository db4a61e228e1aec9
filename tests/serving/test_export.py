"""ONNX and TFLite exports of the tiny classifier: they answer as the Keras file does, carry its facts,
serve without TensorFlow, and a damaged one is one error line."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import CLASSES, TINY_IMAGE_SIZE, encode_image
from processes import wait_until
from project import ROOT, load_stage, write_params
from test_cli import post_upload

from emotion_pipeline.model.backends import NOT_EXPLAINABLE
from emotion_pipeline.serving.cli import main
from emotion_pipeline.serving.predict import Classifier

pytestmark = pytest.mark.slow  # converting a network takes seconds to minutes

FLOAT = ("model.onnx", "model.tflite")
INT8 = ("model.int8.onnx", "model.int8.tflite")
FACES = {"detect": True, "min_confidence": 0.8, "margin": 0.2, "fallback": "skip"}


def build(path: Path, faces: dict | None = None) -> Path:
    """The tiny classifier, seeded, with everything an export must carry: test-time views, a
    temperature and, given `faces`, face settings."""
    import keras

    from emotion_pipeline.model.network import assemble, build_head, build_vgg16, with_temperature

    keras.utils.set_random_seed(0)
    base = build_vgg16(None, TINY_IMAGE_SIZE, batch_norm=True, width_multiplier=0.25)  # a 16th of the work
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    model = assemble(base, head, CLASSES, TINY_IMAGE_SIZE, tta=True, faces=faces)
    with_temperature(model, 0.5).save(path)
    return path


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Noise and smooth gradients at the model's size: uint8 RGB rows."""
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (24, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3))
    ramp = np.linspace(0, 255, TINY_IMAGE_SIZE)
    smooth = [
        np.stack(np.broadcast_arrays(ramp[:, None] * a, ramp[None] * b, 128 + 0 * ramp), -1)
        for a, b in rng.uniform(0, 1, (8, 2))
    ]
    return np.concatenate([noise, np.stack(smooth)]).astype(np.uint8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`emotion export` of the seeded tiny model, int8 calibrated on 16 images: the folder of files."""
    root = tmp_path_factory.mktemp("export")
    calibration = root / "calibration"
    calibration.mkdir()
    for seed in range(16):
        (calibration / f"{seed}.png").write_bytes(encode_image(size=(40, 40), seed=seed))
    model = build(root / "model.keras")
    assert (
        main(
            ["export", "--model", str(model), "--out-dir", str(root / "out"), "--calibrate", str(calibration)]
        )
        == 0
    )
    return root


@pytest.fixture(scope="module")
def keras_classifier(exported: Path) -> Classifier:
    return Classifier(exported / "model.keras")


@pytest.mark.parametrize("name", FLOAT + INT8)
def test_each_export_carries_the_models_facts(
    exported: Path, keras_classifier: Classifier, name: str
) -> None:
    loaded = Classifier(exported / "out" / name)
    assert loaded.model is None  # no Keras inside: nothing of TensorFlow's runs it
    assert (loaded.classes, loaded.image_size, loaded.precision, loaded.faces) == (
        CLASSES,
        TINY_IMAGE_SIZE,
        "float32",
        None,
    )
    assert loaded.backend.facts == keras_classifier.backend.facts
    assert loaded.backend.facts.temperature == 0.5


@pytest.mark.parametrize("name", FLOAT)
def test_float_exports_answer_as_keras_does(
    exported: Path, keras_classifier: Classifier, images: np.ndarray, name: str
) -> None:
    expected = keras_classifier.predict_arrays(images)
    loaded = Classifier(exported / "out" / name)
    for batch_size in (3, 32):  # the graph's batch is dynamic (a last short batch too), its views too
        answers = loaded.predict_arrays(images, batch_size)
        assert answers.shape == expected.shape
        assert np.abs(answers - expected).max() <= 1e-4


@pytest.mark.parametrize("name", INT8)
def test_int8_exports_are_smaller_and_agree_on_the_top_class(
    exported: Path, keras_classifier: Classifier, images: np.ndarray, name: str
) -> None:
    expected = keras_classifier.predict_arrays(images)
    answers = Classifier(exported / "out" / name).predict_arrays(images)
    assert np.allclose(answers.sum(axis=1), 1, atol=1e-3)  # the temperature's softmax stays in float
    assert (answers.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9
    float_size = (exported / "out" / name.replace(".int8", "")).stat().st_size
    assert (exported / "out" / name).stat().st_size < 0.3 * float_size


def test_the_int8_onnx_keeps_its_first_convolution_float(exported: Path) -> None:
    """Only the first convolution reads float weights; every other one reads dequantized int8."""
    import onnx

    graph = onnx.load(str(exported / "out/model.int8.onnx")).graph
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    weights_from = [made_by.get(node.input[1], "initializer") for node in convolutions]
    assert len(weights_from) >= 2
    assert weights_from[0] == "initializer" and set(weights_from[1:]) == {"DequantizeLinear"}


def test_the_int8_tflite_keeps_its_first_convolution_float(exported: Path) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    content = bytearray((exported / "out/model.int8.tflite").read_bytes())
    flat = flatbuffer_utils.read_model_from_bytearray(content)
    graph, schema = flat.subgraphs[0], flatbuffer_utils.schema_fb
    weights = [
        graph.tensors[operator.inputs[1]].type
        for operator in graph.operators
        if flat.operatorCodes[operator.opcodeIndex].builtinCode == schema.BuiltinOperator.CONV_2D
    ]
    assert len(weights) >= 2
    assert weights[0] == schema.TensorType.FLOAT32 and set(weights[1:]) == {schema.TensorType.INT8}


def test_a_face_models_export_frames_and_answers_as_keras_does(
    tmp_path: Path, photo: Callable[[str], Path]
) -> None:
    """Face settings travel in the files: a photo with two faces gets the same boxes and labels."""
    from emotion_pipeline.model.export import export_model
    from emotion_pipeline.model.network import load_classifier

    keras_path = build(tmp_path / "faces.keras", FACES)
    written = export_model(load_classifier(keras_path)[0], tmp_path, None)
    assert [path.name for path in written] == list(FLOAT)
    two = photo("Angry/images18.jpg")
    answers = [Classifier(path).predict_files([two]).images[0] for path in (keras_path, *written)]
    for path, answer in zip(written, answers[1:], strict=True):
        faces = Classifier(path).faces
        assert (faces.min_confidence, faces.margin, faces.fallback) == (0.8, 0.2, "skip")
        assert [face.box for face in answer.faces] == [face.box for face in answers[0].faces]
        assert len(answer.faces) == 2
        for face, expected in zip(answer.faces, answers[0].faces, strict=True):
            assert np.abs(face.probabilities - expected.probabilities).max() <= 1e-4


def test_predict_with_an_export_prints_what_keras_prints(
    capsys: pytest.CaptureFixture[str], exported: Path, tmp_path: Path
) -> None:
    for seed in range(3):
        (tmp_path / f"{seed}.png").write_bytes(encode_image(size=(64, 48), seed=100 + seed))
    outputs = []
    for model in (exported / "model.keras", exported / "out/model.onnx", exported / "out/model.tflite"):
        assert main(["predict", str(tmp_path), "--model", str(model), "--format", "json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    labels = [[row["label"] for row in output] for output in outputs]
    assert labels[0] == labels[1] == labels[2] and len(labels[0]) == 3


def test_explain_with_an_export_is_one_line(capsys: pytest.CaptureFixture[str], exported: Path) -> None:
    image = exported / "calibration/0.png"
    status = main(
        ["explain", str(image), "--out", str(exported / "maps"), "--model", str(exported / "out/model.onnx")]
    )
    err = capsys.readouterr().err.splitlines()
    assert status == 2 and err == [f"error: {NOT_EXPLAINABLE}"]


@pytest.mark.parametrize("name", FLOAT + INT8)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_a_damaged_export_is_one_error_line(
    capsys: pytest.CaptureFixture[str], exported: Path, tmp_path: Path, name: str, damage: str
) -> None:
    """Cut short, overwritten, or a valid file of the format that `emotion export` did not write."""
    good = (exported / "out" / name).read_bytes()
    damaged = tmp_path / name
    if damage == "truncated":
        damaged.write_bytes(good[: len(good) // 3])
    elif damage == "garbage":
        damaged.write_bytes(b"\0garbage" * 100)
    else:
        damaged.write_bytes(good.replace(b"emotion_pipeline", b"someone_elses_md"))  # same length
    status = main(["predict", str(exported / "calibration/0.png"), "--model", str(damaged)])
    err = capsys.readouterr().err.splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: cannot load model {damaged}: "), err
    if damage == "foreign":
        assert "no emotion_pipeline metadata" in err[0]


def test_export_of_an_export_is_one_line(capsys: pytest.CaptureFixture[str], exported: Path) -> None:
    status = main(
        ["export", "--model", str(exported / "out/model.onnx"), "--out-dir", str(exported / "again")]
    )
    assert status == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: export needs the Keras model (.keras), not {exported / 'out/model.onnx'}"
    ]


def test_the_app_of_an_export_answers_and_refuses_to_explain(exported: Path) -> None:
    from emotion_pipeline.serving.webapp import create_app

    client = create_app(Classifier(exported / "out/model.int8.tflite")).test_client()
    for query, status in (("", 200), ("?explain=1", 400)):
        response = client.post(
            f"/api/predict{query}",
            data={"file": (io.BytesIO(encode_image(seed=3)), "a.png")},
            content_type="multipart/form-data",
        )
        assert response.status_code == status, response.get_json()
    assert response.get_json() == {"error": NOT_EXPLAINABLE}


def test_serving_the_int8_export_answers_without_tensorflow(
    exported: Path, keras_classifier: Classifier, tmp_path: Path
) -> None:
    """`emotion serve --model model.int8.onnx` as a real process: it answers /api/predict with the
    Keras model's label and never maps TensorFlow's library into its memory."""
    if not Path("/proc/self/maps").is_file():
        pytest.skip("needs /proc/<pid>/maps (Linux) to see which libraries the server loaded")
    model = exported / "out/model.int8.onnx"
    log = tmp_path / "serve.log"
    command = [Path(sys.executable).with_name("emotion"), "serve", "--model", model, "--port", "0"]
    with open(log, "wb") as output:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def listening() -> tuple[bool, str]:
        text = log.read_text()
        return server.poll() is not None or "serving on" in text, text

    try:
        address = re.search(r"serving on http://127\.0\.0\.1:(\d+)", wait_until(listening, deadline=120))
        assert address, log.read_text()
        image = encode_image(size=(64, 48), seed=7)
        status, answer = post_upload(int(address[1]), image, "a.png")
        assert status == 200, answer
        expected = keras_classifier.predict_arrays(keras_classifier.frame(image).inputs)[0]
        assert answer["label"] == CLASSES[int(expected.argmax())]
        libraries = Path(f"/proc/{server.pid}/maps").read_text()
        assert "onnxruntime" in libraries and "tensorflow" not in libraries
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def test_a_bfloat16_model_is_exported_in_float32(tmp_path: Path, images: np.ndarray) -> None:
    """Trained in mixed precision: the exported graph computes in float32 (neither runtime runs
    bfloat16 well on CPUs), answers as the model does within bfloat16's precision, and the facts
    still say how it was trained."""
    import keras

    from emotion_pipeline.model.backends import keras_facts
    from emotion_pipeline.model.export import float32_model
    from emotion_pipeline.model.network import load_classifier, trained_precision

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        path = build(tmp_path / "bf16.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model = load_classifier(path)[0]
    plain = float32_model(model)
    assert (trained_precision(model), trained_precision(plain)) == ("mixed_bfloat16", "float32")
    assert keras_facts(model).precision == "mixed_bfloat16"
    difference = np.abs(plain.predict_on_batch(images.astype("float32")) - model.predict_on_batch(images))
    assert 0 < difference.max() < 0.05


def test_calibration_draws_evenly_through_the_validation_list(tmp_path: Path) -> None:
    """The stage's calibration images: spread over the list (sorted by class, every class drawn), at
    the model's size, as the loader gives them."""
    from emotion_pipeline.data.images import load_image
    from emotion_pipeline.model.export import calibration_rows

    lines = ["path,label"]
    for index in range(10):
        image = tmp_path / f"{index}.png"
        image.write_bytes(encode_image(size=(20 + index, 30), seed=index))
        lines.append(f"{image},{CLASSES[index * len(CLASSES) // 10]}")
    (tmp_path / "val.csv").write_text("\n".join(lines) + "\n")
    rows = calibration_rows(tmp_path / "val.csv", TINY_IMAGE_SIZE, 4)
    assert rows.shape == (4, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3) and rows.dtype == np.uint8
    expected = [load_image(tmp_path / f"{index}.png", TINY_IMAGE_SIZE) for index in (0, 3, 6, 9)]
    np.testing.assert_array_equal(rows, np.stack(expected))
    assert len(calibration_rows(tmp_path / "val.csv", TINY_IMAGE_SIZE, 50)) == 10  # all there are


def test_a_classifier_saved_with_its_training_augmentation_exports_and_answers_alike(
    tmp_path: Path, images: np.ndarray
) -> None:
    """The train stage saves the augmentation inside the classifier (the identity when answering):
    its random ops would stop ONNX Runtime, so the export leaves that layer out."""
    from emotion_pipeline.core.recipes import compose
    from emotion_pipeline.model.backends import open_backend
    from emotion_pipeline.model.export import export_model
    from emotion_pipeline.model.network import assemble, build_head, build_vgg16, load_classifier
    from emotion_pipeline.model.views import build_augmentation

    every_one_on = {"rotation": 10, "zoom": 0.1, "brightness": 0.2, "contrast": 0.2, "blur": 1.0}
    every_one_on |= {"jpeg_quality": 30, "erasing": 0.5}  # JPEG coding: no ONNX op for it either
    augment = compose(ROOT / "conf", "baseline")["augment"] | every_one_on
    base = build_vgg16(None, TINY_IMAGE_SIZE)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    augmented = assemble(base, head, CLASSES, TINY_IMAGE_SIZE, build_augmentation(augment, 0))
    augmented.save(tmp_path / "model.keras")
    model = load_classifier(tmp_path / "model.keras")[0]
    assert "augmentation" in [layer.name for layer in model.layers]
    written = export_model(model, tmp_path / "out", None)
    expected = model.predict_on_batch(images.astype("float32"))
    for path in written:
        np.testing.assert_allclose(open_backend(path).predict(images.astype("float32")), expected, atol=1e-4)


def test_the_export_stage_off_leaves_a_note(tmp_path: Path) -> None:

    params = write_params(tmp_path / "params.yaml", {})
    out = tmp_path / "exports"
    arguments = [
        "--params",
        str(params),
        "--model",
        "missing.keras",
        "--split-dir",
        "x",
        "--out-dir",
        str(out),
    ]
    assert load_stage("export").main(arguments) == 0
    assert [p.name for p in out.iterdir()] == ["README.txt"]
