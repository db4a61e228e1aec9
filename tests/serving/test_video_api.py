"""`POST /api/video` through Flask's test client: a clip's rows, summary and timeline; every bad video
a one-line JSON answer with a 4xx; nothing on disk; still images answered while a video runs."""

from __future__ import annotations

import base64
import io
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image
from video_corpus import BAD_VIDEOS, make_clip, ten_minutes

from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.video_api import MAX_VIDEO_BYTES
from emotion_pipeline.serving.webapp import create_app


@pytest.fixture(scope="module")
def client(classifier: Classifier) -> FlaskClient:
    return create_app(classifier).test_client()


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clip")).read_bytes()


def post_video(client: FlaskClient, data: bytes, query: str = "", name: str = "clip.mp4"):
    upload = {"file": (io.BytesIO(data), name)}
    return client.post(f"/api/video{query}", data=upload, content_type="multipart/form-data")


def test_a_clip_answers_rows_summary_and_timeline(
    client: FlaskClient, classifier: Classifier, clip_bytes: bytes
) -> None:
    response = post_video(client, clip_bytes, "?fps=2&timeline=1")
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    rows = answer["rows"]
    assert [row["time"] for row in rows] == [0, 0.5, 1, 1.5, 2, 2.5]
    assert all(row["face"] == 1 and row["box"] == [0, 0, 160, 120] for row in rows)
    assert all(list(row["probabilities"]) == classifier.classes for row in rows)
    assert answer["summary"]["frames"] == 6 and [f["face"] for f in answer["summary"]["faces"]] == [1]
    prefix = "data:image/png;base64,"
    assert answer["timeline"].startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(answer["timeline"][len(prefix) :]))) as picture:
        assert picture.format == "PNG"
    assert "timeline" not in post_video(client, clip_bytes, "?fps=1").get_json()


@pytest.mark.parametrize("name", sorted(set(BAD_VIDEOS) - {"missing.mp4"}))
def test_a_bad_video_is_a_400_with_its_reason(client: FlaskClient, tmp_path: Path, name: str) -> None:
    make, reason = BAD_VIDEOS[name]
    response = post_video(client, make(tmp_path / name).read_bytes(), name=name)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(reason)
    assert client.get("/healthz").status_code == 200


def test_too_long_or_too_large_is_413_and_a_bad_fps_400(client: FlaskClient, tmp_path: Path) -> None:
    response = post_video(client, ten_minutes(tmp_path / "long.mp4").read_bytes())
    assert response.status_code == 413 and "the limit is 60 s" in response.get_json()["error"]
    response = post_video(client, b"\0" * (MAX_VIDEO_BYTES + 2**20))
    assert response.status_code == 413 and "32 MB" in response.get_json()["error"]
    for fps in ("0", "11", "nan", "x"):
        assert post_video(client, b"\0", f"?fps={fps}").status_code == 400
    assert client.post("/api/video").status_code == 400


def test_a_face_model_on_a_faceless_clip_says_so(face_classifier: Classifier, tmp_path: Path) -> None:
    client = create_app(face_classifier).test_client()
    answer = post_video(
        client, make_clip(tmp_path, "empty.mp4", seconds=1.0, faces=0).read_bytes()
    ).get_json()
    assert answer["note"] == "no face found in any of the 4 sampled frames"
    assert answer["summary"]["faces"] == [] and all(row["note"] == "no face found" for row in answer["rows"])


def test_videos_never_touch_the_disk(
    client: FlaskClient, clip_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_temporary_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("an upload was spooled to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_temporary_files)
    monkeypatch.chdir(tmp_path)
    large = clip_bytes + b"\0" * 2**20  # over Werkzeug's 500 KB in-memory limit; trailing bytes ignored
    assert post_video(client, large, name="../../escape.mp4").status_code == 200
    assert sorted(tmp_path.rglob("*")) == []


def test_images_are_answered_while_a_video_runs_and_a_second_video_waits(
    classifier: Classifier, tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    """Two videos at once: one runs, the other is refused at once (429); an image meanwhile is answered."""
    app = create_app(classifier)
    long_clip = make_clip(tmp_path, "long.mp4", seconds=12.0, faces=1).read_bytes()
    statuses: list[int] = []

    def post() -> None:
        statuses.append(post_video(app.test_client(), long_clip, "?fps=10").status_code)

    videos = [threading.Thread(target=post) for _ in range(2)]
    for video in videos:
        video.start()
    try:
        image = app.test_client().post("/api/predict", data={"file": (io.BytesIO(make_image()), "a.png")})
        running = any(video.is_alive() for video in videos)
    finally:
        for video in videos:
            video.join()
    assert image.status_code == 200 and running
    assert sorted(statuses) == [200, 429]
