"""Face crops through the real pipeline: `dvc repro` with `faces.detect` on 24 web photos, in a copy
of the project. The model keeps the margin it was trained with, evaluation scores the crops, the
report shows what was found, and a face setting reruns the faces stage but not the split.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import WEB_EMOTIONS
from project import copy_project, run, write_params

from emotion_pipeline.core.tables import read_table
from emotion_pipeline.data.faces import FaceSettings, crop, detect
from emotion_pipeline.data.images import load_photo, to_array
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.webapp import create_app

# The slow tier: `dvc repro` with face detection on real photos.
pytestmark = pytest.mark.slow

PHOTOS = {  # 8 per class: 17 with one face, 2 with several (2 and 6), 5 without
    "Angry": [
        "YdGPmBa6UZj8pxM95T2ADA-320-80.jpg",
        "angry-man-shouting-out-loud-260nw-1417294826.jpg",
        "32209658.jpg",
        "Angry-People.jpg",
        "single-angry-person-mobile-phone-260nw-603267953.jpg",
        "woman-rage-very-angry-dissatisfied-260nw-524205757.jpg",
        "depositphotos_53144077-stock-photo-businesswoman-covering-her-face-with.jpg",
        "images18.jpg",
    ],
    "Happy": [
        "images22.jpg",
        "images14.jpg",
        "happiness_thumbnail.jpg",
        "happy-woman-with-glasses.jpg",
        "happy-people2.jpg",
        "images20.jpg",
        "image24.jpeg",
        "images12.jpg",
    ],
    "Sad": [
        "image18.jpeg",
        "depositphotos_11207956-stock-photo-thoughtful-man-in-the-living.jpg",
        "portrait-sad-man-260nw-126009806.jpg",
        "depressed-man-studio-shot-260nw-404652526.jpg",
        "sad-quotes-about-life.jpg",
        "african-american-depressive-sad-broken-260nw-475790911.jpg",
        "man-with-head-down-300x300.jpg",
        "sadness.jpg",
    ],
}
MARGIN = 0.3  # not the default 0.1: serving must use the model's, not params.yaml's
SETTINGS = {
    "model.weights": "none",
    "image_size": 32,
    "augment.views": 1,
    "epochs": 2,
    "faces.detect": True,
    "faces.margin": MARGIN,
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 24 photos, copied outside the repository."""
    if not WEB_EMOTIONS.is_dir():
        pytest.skip(f"{WEB_EMOTIONS} not found (the web-emotions dataset beside the repository)")
    root = tmp_path_factory.mktemp("photos")
    for label, names in PHOTOS.items():
        (root / label).mkdir()
        for name in names:
            shutil.copyfile(WEB_EMOTIONS / label / name, root / label / name)
    return root


@pytest.fixture(scope="module")
def project(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("faces_project"))
    write_params(project / "params.yaml", {**SETTINGS, "data.dir": str(data)})
    run(project, "dvc", "repro")
    return project


def test_the_model_serves_with_the_margin_it_was_trained_with(project: Path, data: Path) -> None:
    classifier = Classifier(project / "models/model.keras")
    assert classifier.faces == FaceSettings(margin=MARGIN)
    photo = data / "Angry/images18.jpg"
    image = load_photo(photo).image
    largest = detect(image)[0].box
    framed = classifier.frame(photo)
    np.testing.assert_array_equal(framed.inputs[0], to_array(crop(image, largest, MARGIN), 32))
    assert not np.array_equal(framed.inputs[0], to_array(crop(image, largest, 0.1), 32))
    client = create_app(classifier).test_client()
    answer = client.post("/api/predict", data={"file": (io.BytesIO(photo.read_bytes()), "p.jpg")}).get_json()
    expected = classifier.predict_arrays(framed.inputs)[0]
    assert list(answer["probabilities"].values()) == pytest.approx(list(expected), rel=1e-6)
    assert len(answer["faces"]) == 2 and answer["faces"][0]["box"] == list(largest)


def test_evaluation_scores_the_crops_of_the_test_images(project: Path) -> None:
    predictions = read_table(project / "metrics/predictions.csv")
    test = read_table(project / "data/faces/test.csv")
    assert predictions["path"].tolist() == test["path"].tolist()
    crops = test[test["path"] != test["source"]]
    assert all(path.startswith("data/faces/crops/") for path in crops["path"]) and len(crops) >= 1
    assert json.loads((project / "metrics/test.json").read_text())["n_images"] == 3


def test_the_report_shows_the_faces_found(project: Path) -> None:
    report = (project / "plots/report.md").read_text()
    assert "## Faces" in report and f"margin of {MARGIN}" in report
    assert "| **total** | **5** | **17** | **2** | **24** |" in report  # none, one, several, all
    for figure in ("faces_found.png", "face_crops.png"):
        assert f"]({figure})" in report and (project / "plots" / figure).stat().st_size > 5_000


def test_a_face_setting_reruns_the_faces_stage_not_the_split(project: Path, data: Path) -> None:
    params = project / "params.yaml"
    original = params.read_text()
    try:
        write_params(params, {**SETTINGS, "data.dir": str(data), "faces.margin": 0.2})
        status = json.loads(run(project, "dvc", "status", "--json").strip().splitlines()[-1])
        assert status["faces"] == [{"changed deps": {"params.yaml": {"faces": "modified"}}}]
        assert set(status) == {"faces", "report"}  # the report prints every param
    finally:
        params.write_text(original)
