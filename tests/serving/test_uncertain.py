"""An honest "not sure": `uncertain` below the asked minimum confidence and never at or above it, in
the answer rule, the CLI and the API; and the report's accuracy-coverage curve that helps pick it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emotion_pipeline.report.coverage import accuracy_coverage, plot_accuracy_coverage
from emotion_pipeline.serving.cli import main
from emotion_pipeline.serving.confidence import UNCERTAIN
from emotion_pipeline.serving.predict import Classifier, labelled

DETERMINISTIC = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@settings(DETERMINISTIC, max_examples=200)
@given(
    weights=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=7).filter(lambda w: sum(w) > 0),
    threshold=st.floats(0.0, 1.0),
)
def test_uncertain_exactly_below_the_threshold(weights: list[float], threshold: float) -> None:
    probabilities = np.array(weights) / sum(weights)
    classes = [f"c{i}" for i in range(len(weights))]
    answer = labelled(classes, probabilities, threshold)
    top = float(probabilities.max())
    assert (answer["label"] == UNCERTAIN) == (top < threshold)
    if top >= threshold:
        assert answer["probabilities"][answer["label"]] == top
    assert list(answer["probabilities"].values()) == [float(p) for p in probabilities]


def test_a_top_probability_equal_to_the_threshold_is_answered() -> None:
    assert labelled(["a", "b"], [0.75, 0.25], 0.75)["label"] == "a"
    assert labelled(["a", "b"], [0.75, 0.25], 0.7500001)["label"] == UNCERTAIN


@pytest.fixture(scope="module")
def calibrated_path(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny classifier with a fitted-looking temperature in its file, as `train.calibrate` saves it."""
    from emotion_pipeline.model.network import load_classifier, with_temperature

    path = tmp_path_factory.mktemp("calibrated") / "model.keras"
    with_temperature(load_classifier(model_path)[0], 0.2).save(path)  # T < 1: spread-out answers
    return path


def predict_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[list[dict], list[str]]:
    assert main(["predict", "--format", "json", *map(str, argv)]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err.splitlines()


def test_cli_min_confidence_splits_answers_at_the_threshold(
    capsys: pytest.CaptureFixture[str],
    calibrated_path: Path,
    tmp_path: Path,
    make_image: Callable[..., bytes],
) -> None:
    files = []
    for seed in range(6):
        files.append(tmp_path / f"{seed}.png")
        files[-1].write_bytes(make_image("PNG", (40, 40), seed))
    plain, err = predict_json(capsys, *files, "--model", calibrated_path)
    assert err == []
    tops = sorted(max(row["probabilities"].values()) for row in plain)
    assert tops[0] < tops[-1], "the images should not all be equally sure"
    threshold = tops[len(tops) // 2]  # one image sits exactly on it
    rows, err = predict_json(capsys, *files, "--model", calibrated_path, "--min-confidence", threshold)
    assert err == []  # calibrated: no warning
    for row, before in zip(rows, plain, strict=True):
        assert row["probabilities"] == before["probabilities"]
        top = max(row["probabilities"].values())
        assert row["label"] == (UNCERTAIN if top < threshold else before["label"])
    assert {row["label"] == UNCERTAIN for row in rows} == {True, False}


def test_cli_warns_that_an_uncalibrated_model_overstates(
    capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_image("PNG"))
    rows, err = predict_json(capsys, image, "--model", model_path, "--min-confidence", "1")
    assert [row["label"] for row in rows] == [UNCERTAIN]
    assert len(err) == 1 and err[0].startswith("warning:") and "not calibrated" in err[0]
    _, err = predict_json(capsys, image, "--model", model_path)
    assert err == []


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "sure"])
def test_cli_rejects_a_threshold_outside_0_to_1(
    capsys: pytest.CaptureFixture[str], model_path: Path, value: str
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["predict", "x.png", "--model", str(model_path), "--min-confidence", value])
    assert exit.value.code == 2
    assert "--min-confidence" in capsys.readouterr().err


def test_api_min_confidence_as_form_field_or_query(
    classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    from emotion_pipeline.serving.webapp import create_app

    client = create_app(classifier).test_client()

    def post(query: str = "", **form: str):
        data = {"file": (io.BytesIO(make_image("PNG")), "a.png"), **form}
        return client.post(f"/api/predict{query}", data=data, content_type="multipart/form-data")

    answer = post().get_json()
    top = max(answer["probabilities"].values())
    assert answer["label"] in classifier.classes
    for response in (post(min_confidence="1"), post("?min_confidence=1")):
        assert response.status_code == 200
        assert response.get_json() == {**answer, "label": UNCERTAIN}
    assert post(min_confidence=str(top)).get_json() == answer  # at the threshold: answered
    for bad in ("2", "abc", ""):
        response = post(min_confidence=bad)
        assert response.status_code == 400
        assert "min_confidence" in response.get_json()["error"]


def test_accuracy_coverage_on_a_hand_made_table(tmp_path: Path) -> None:
    # confidence, correct: answered from the most confident down; two images tie at 0.7.
    table = [(0.95, True), (0.9, False), (0.7, True), (0.7, True), (0.6, False), (0.4, True)]
    curve = accuracy_coverage(*zip(*table, strict=True))
    assert curve.threshold.tolist() == [0.95, 0.9, 0.7, 0.6, 0.4]
    assert curve.coverage.tolist() == pytest.approx([1 / 6, 2 / 6, 4 / 6, 5 / 6, 1.0])
    assert curve.accuracy.tolist() == pytest.approx([1.0, 1 / 2, 3 / 4, 3 / 5, 4 / 6])
    assert curve.at(0.7) == pytest.approx((4 / 6, 3 / 4))
    assert curve.at(0.65) == pytest.approx((4 / 6, 3 / 4))  # between two confidences: the higher's set
    assert curve.at(0.0) == pytest.approx((1.0, 4 / 6))
    assert curve.at(0.96) is None
    # The same rule as the answers: at each threshold, the answered are those `labelled` does not hold back.
    for threshold, coverage in zip(curve.threshold, curve.coverage, strict=True):
        answers = [labelled("xyz", [c, (1 - c) / 2, (1 - c) / 2], threshold) for c, _ in table]
        answered = [answer["label"] != UNCERTAIN for answer in answers]
        assert sum(answered) / len(table) == pytest.approx(coverage)

    rows = [
        {"path": f"{i}.png", "actual": "a", "predicted": "a" if right else "b", "confidence": str(c)}
        for i, (c, right) in enumerate(table)
    ]
    drawn = plot_accuracy_coverage(rows, tmp_path / "accuracy_coverage.png")
    empty = plot_accuracy_coverage([{"actual": "a", "predicted": "a"}], tmp_path / "empty.png")
    with Image.open(drawn) as image, Image.open(empty) as placeholder:
        assert image.format == "PNG" and image.width > 300
        assert np.asarray(image).std() > np.asarray(placeholder).std()  # a curve, not the placeholder
