"""FER2013's seven emotions through every way out of the model: `emotion predict`, `explain` and
`evaluate`, the API (with a heatmap), the page and the report's confusion matrix. The tiny model's
head is tilted towards `surprise`, the seventh class, so an answer that ever reaches past the first
three classes shows."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import tiny_classifier
from PIL import Image

from emotion_pipeline.serving.cli import main
from emotion_pipeline.serving.predict import Classifier

SEVEN = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]  # FER2013's, in its order
FAVOURED = "surprise"


@pytest.fixture(scope="module")
def seven_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny classifier over seven classes, its output bias favouring FAVOURED."""
    from emotion_pipeline.model.network import load_classifier

    path = tiny_classifier(tmp_path_factory.mktemp("seven") / "model.keras", classes=SEVEN)
    model = load_classifier(path)[0]
    output = model.get_layer("head").layers[-1]
    kernel, bias = output.get_weights()
    bias[SEVEN.index(FAVOURED)] = 20.0
    output.set_weights([kernel, bias])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def seven(seven_path: Path) -> Classifier:
    return Classifier(seven_path)


@pytest.fixture
def images(tmp_path: Path, make_image: Callable[..., bytes]) -> list[Path]:
    """Two noise images, one per format."""
    paths = [tmp_path / "a.png", tmp_path / "b.jpg"]
    for seed, (path, fmt) in enumerate(zip(paths, ["PNG", "JPEG"], strict=True)):
        path.write_bytes(make_image(fmt, (60, 50), seed))
    return paths


def test_predict_prints_seven_probabilities(
    capsys: pytest.CaptureFixture[str], seven_path: Path, images: list[Path]
) -> None:
    assert main(["predict", *map(str, images), "--model", str(seven_path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    for row in rows:
        assert list(row["probabilities"]) == SEVEN
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, rel=1e-5)
        assert row["label"] == FAVOURED
    assert main(["predict", *map(str, images), "--model", str(seven_path)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["path", "label", *SEVEN]
    assert [len(line.split()) for line in lines] == [2 + 7] * 2


def test_explain_any_of_the_seven(
    capsys: pytest.CaptureFixture[str], seven_path: Path, images: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "overlays"
    for wanted in (None, "disgust"):
        extra = ["--class", wanted] if wanted else []
        assert main(["explain", str(images[0]), "--out", str(out), "--model", str(seven_path), *extra]) == 0
        line = capsys.readouterr().out.strip()
        assert f": evidence for {wanted or FAVOURED} (" in line and f"predicted {FAVOURED})" in line
        with Image.open(out / "a_gradcam.png") as overlay:
            assert overlay.size == (60, 50)


def test_evaluate_scores_seven_class_folders(
    capsys: pytest.CaptureFixture[str], seven_path: Path, tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    from emotion_pipeline.report.figures import plot_confusion_matrix

    root = tmp_path / "test"
    for index, name in enumerate(SEVEN):
        (root / name).mkdir(parents=True)
        (root / name / "0.png").write_bytes(make_image("PNG", seed=index))
    assert main(["evaluate", str(root), "--model", str(seven_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["classes"] == SEVEN and metrics["n_images"] == 7
    supports = {name: scores["support"] for name, scores in metrics["per_class"].items()}
    assert supports == dict.fromkeys(SEVEN, 1)
    column = SEVEN.index(FAVOURED)
    assert metrics["confusion_matrix"] == [[int(j == column) for j in range(7)] for _ in range(7)]
    assert metrics["accuracy"] == pytest.approx(1 / 7)
    assert metrics["per_class"][FAVOURED]["f1"] == pytest.approx(2 / 8)  # precision 1/7, recall 1
    with Image.open(plot_confusion_matrix(metrics, tmp_path / "confusion.png")) as figure:
        assert figure.format == "PNG" and figure.width > 600


def test_the_app_answers_and_shows_seven_classes(seven: Classifier, make_image: Callable[..., bytes]) -> None:
    from emotion_pipeline.serving.webapp import create_app

    client = create_app(seven).test_client()
    assert client.get("/healthz").get_json()["classes"] == SEVEN
    page = client.get("/").get_data(as_text=True)
    assert [name for name in SEVEN if f'data-class="{name}"' in page] == SEVEN

    def post(query: str = ""):
        data = {"file": (io.BytesIO(make_image("PNG", (64, 48))), "face.png")}
        return client.post(f"/api/predict{query}", data=data, content_type="multipart/form-data")

    answer = post().get_json()
    assert list(answer["probabilities"]) == SEVEN and answer["label"] == FAVOURED
    explained = post("?explain=1&class=fear").get_json()
    assert explained["probabilities"] == answer["probabilities"]
    assert explained["explain"]["class"] == "fear" and explained["explain"]["box"] is None
    assert explained["explain"]["image"].startswith("data:image/png;base64,")
