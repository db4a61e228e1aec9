"""The web app through Flask's test client: every route, every error answered as JSON, nothing on disk."""

from __future__ import annotations

import base64
import io
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from corpus import EPS, encode, noise, uniform_png
from flask.testing import FlaskClient
from PIL import Image

from emotion_pipeline.data import shedding
from emotion_pipeline.serving import webapp
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.webapp import MAX_UPLOAD_BYTES, RETRY_AFTER_SECONDS, create_app


@pytest.fixture(scope="module")
def client(classifier: Classifier) -> FlaskClient:
    return create_app(classifier).test_client()


def post_file(client: FlaskClient, data: bytes, name: str = "upload.png", field: str = "file"):
    return client.post(
        "/api/predict", data={field: (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims a huge size: what a decompression bomb looks like to the decoder."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("fmt", "name"), [("PNG", "face.png"), ("JPEG", "face.jpg"), ("WEBP", "webp-named.jpg")]
)
def test_predict_good_image(
    client: FlaskClient, classifier: Classifier, make_image: Callable[..., bytes], fmt: str, name: str
) -> None:
    response = post_file(client, make_image(fmt, (300, 200)), name)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert list(answer["probabilities"]) == classifier.classes
    assert math.isclose(sum(answer["probabilities"].values()), 1.0, rel_tol=1e-5)
    assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)


def write_to(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_prediction_matches_the_classifier(
    client: FlaskClient, classifier: Classifier, make_image: Callable[..., bytes], tmp_path: Path
) -> None:
    """The API and the file path (CLI, evaluation) give the same answer for the same bytes."""
    data = make_image("PNG", seed=7)
    probabilities = classifier.predict_files([write_to(tmp_path / "same.png", data)]).probabilities[0]
    answer = post_file(client, data).get_json()
    assert list(answer["probabilities"].values()) == pytest.approx(list(probabilities), rel=1e-5)


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"just some text, not a picture\n", "x.jpg", "not an image"),
        (os.urandom(4096), "noise.png", "not an image"),
        (b"", "empty.png", "empty file"),
        (png_bomb(), "bomb.png", "decompression bomb"),
    ],
    ids=["text-as-jpg", "random-bytes", "empty", "decompression-bomb"],
)
def test_bad_upload_is_400_with_reason(client: FlaskClient, data: bytes, name: str, reason: str) -> None:
    response = post_file(client, data, name)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]


@pytest.mark.parametrize(
    ("data", "name", "fmt"), [(encode(noise(1), "TIFF"), "scan.tif", "TIFF"), (EPS, "figure.eps", "EPS")]
)
def test_other_image_formats_are_400_unsupported(
    client: FlaskClient, data: bytes, name: str, fmt: str
) -> None:
    """Formats Pillow knows but the project does not list are refused, whatever Pillow could do."""
    response = post_file(client, data, name)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith(f"unsupported kind of image: {fmt} ")


def test_large_image_while_another_decodes_is_429_and_small_ones_still_pass(
    client: FlaskClient, make_image: Callable[..., bytes]
) -> None:
    """A large upload never waits for the large-decode turn (it would hold a server thread): it is
    refused at once, to retry; small uploads never need the turn."""
    scan = uniform_png(10_000, 10_000, 16)  # 16-bit: 191 MiB to decode, over LARGE_BYTES
    with shedding.large_decode_turn():  # another request's large decode
        response = post_file(client, scan, "scan.png")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "try again" in response.get_json()["error"]
        assert post_file(client, make_image()).status_code == 200


def test_decode_past_its_deadline_is_429(
    client: FlaskClient, make_image: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webapp, "DECODE_SECONDS", -1.0)  # the deadline has passed before the first read
    response = post_file(client, make_image())
    assert response.status_code == 429
    assert "took too long" in response.get_json()["error"]
    assert "Retry-After" in response.headers


def test_truncated_image_is_400(client: FlaskClient, make_image: Callable[..., bytes]) -> None:
    data = make_image("JPEG", (400, 300))
    response = post_file(client, data[: len(data) // 2], "cut.jpg")
    assert response.status_code == 400
    assert "corrupt or truncated" in response.get_json()["error"]


def test_missing_field_is_400(client: FlaskClient, make_image: Callable[..., bytes]) -> None:
    response = post_file(client, make_image(), field="image")
    assert response.status_code == 400
    assert "'file'" in response.get_json()["error"]
    assert client.post("/api/predict").status_code == 400


def test_upload_over_10_mb_is_413_json(client: FlaskClient) -> None:
    response = post_file(client, b"\0" * (11 * 1024 * 1024), "big.png")
    assert response.status_code == 413
    assert "10 MB" in response.get_json()["error"]
    # Just under the limit (with room for the multipart envelope) the file is read and judged.
    response = post_file(client, b"\0" * (MAX_UPLOAD_BYTES - 4096), "almost.png")
    assert response.status_code == 400 and "not an image" in response.get_json()["error"]


def test_healthz(client: FlaskClient, classifier: Classifier) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "classes": classifier.classes}


def test_index_page_has_the_form(client: FlaskClient, classifier: Classifier) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<input type="file" id="file" name="file"' in page
    assert 'id="label"' in page
    assert all(f'data-class="{name}"' in page for name in classifier.classes)
    for asset in (
        "/static/faces.js",
        "/static/app.js",
        "/static/video.js",
        "/static/style.css",
        "/static/favicon.svg",
    ):
        assert asset in page
        assert client.get(asset).status_code == 200


def test_security_headers_on_every_answer(client: FlaskClient, make_image: Callable[..., bytes]) -> None:
    """What a scanner checks: no sniffing, a CSP and no referrer everywhere; API answers never cached."""
    api = [
        client.get("/healthz"),
        post_file(client, make_image()),
        post_file(client, b"not an image"),
        client.get("/no/such/page"),
    ]
    pages = [client.get("/"), client.get("/static/app.js")]
    for response in api + pages:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert [response.status_code for response in api] == [200, 200, 400, 404]
    assert all(response.headers["Cache-Control"] == "no-store" for response in api)
    assert all("no-store" not in response.headers.get("Cache-Control", "") for response in pages)


def test_unknown_route_and_wrong_method_are_json(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.is_json and "not found" in response.get_json()["error"]
    response = client.get("/api/predict")
    assert response.status_code == 405
    assert response.is_json


def test_unexpected_error_is_500_without_traceback(
    classifier: Classifier,
    make_image: Callable[..., bytes],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(classifier, "predict_arrays", explode)
    response = post_file(create_app(classifier).test_client(), make_image())
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}
    assert "secret" not in response.get_data(as_text=True)
    assert "secret internal detail" in caplog.text  # logged server-side


def test_uploads_never_touch_the_disk(
    client: FlaskClient, make_image: Callable[..., bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_temporary_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("an upload was spooled to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):  # Linux temp files have no name to list
        monkeypatch.setattr(tempfile, name, no_temporary_files)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    large = make_image("PNG", (800, 800))  # over Werkzeug's 500 KB in-memory limit
    assert len(large) > 600 * 1024
    for data, name, status in [(large, "../../escape.png", 200), (b"not an image", "x.jpg", 400)]:
        assert post_file(client, data, name).status_code == status
    assert sorted(tmp_path.rglob("*")) == before


def post_explain(client: FlaskClient, data: bytes, query: str = "explain=1"):
    upload = {"file": (io.BytesIO(data), "face.png")}
    return client.post(f"/api/predict?{query}", data=upload, content_type="multipart/form-data")


@pytest.mark.slow
def test_explain_adds_a_heatmap_for_the_page_to_lay_over_its_preview(
    client: FlaskClient, classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    data = make_image("PNG", (300, 200), seed=5)
    plain = post_file(client, data).get_json()
    response = post_explain(client, data)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert "explain" not in plain
    assert answer["label"] == plain["label"] == answer["explain"]["class"]
    expected = list(plain["probabilities"].values())
    assert list(answer["probabilities"].values()) == pytest.approx(expected, rel=1e-5)
    header, encoded = answer["explain"]["image"].split(",", 1)
    assert header == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as heatmap:
        assert heatmap.mode == "RGBA" and heatmap.size == (classifier.image_size, classifier.image_size)
    assert post_explain(client, data, "explain=1&class=Sad").get_json()["explain"]["class"] == "sad"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"just some text, not a picture\n", "not an image"),
        (b"", "empty file"),
        (png_bomb(), "decompression bomb"),
    ],
    ids=["text", "empty", "decompression-bomb"],
)
def test_bad_upload_with_explain_is_400(client: FlaskClient, data: bytes, reason: str) -> None:
    response = post_explain(client, data)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]


def test_unknown_class_to_explain_is_400(client: FlaskClient, make_image: Callable[..., bytes]) -> None:
    response = post_explain(client, make_image(), "explain=1&class=bored")
    assert response.status_code == 400
    assert response.get_json()["error"] == "unknown class 'bored': the model's classes are angry, happy, sad"


def test_csp_admits_data_images_and_nothing_else_new(client: FlaskClient) -> None:
    policy = client.get("/").headers["Content-Security-Policy"]
    assert policy == "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'"
