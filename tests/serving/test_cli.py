"""The `emotion` command, run in-process through main() (plus one run of the installed script)."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from corpus import EPS, encode, noise
from PIL import Image
from processes import wait_until
from project import write_params

from emotion_pipeline.serving.cli import main
from emotion_pipeline.serving.predict import Classifier


@pytest.fixture
def mixed_folder(tmp_path: Path, make_image: Callable[..., bytes]) -> Path:
    """Two good images (one nested), two bad files, and a hidden file that must be skipped."""
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    (root / "a.png").write_bytes(make_image("PNG", seed=1))
    (root / "nested" / "b.jpeg").write_bytes(make_image("JPEG", seed=2))
    (root / "notes.jpg").write_text("not an image\n")
    (root / "empty.png").write_bytes(b"")
    (root / ".DS_Store").write_bytes(b"\0\1junk")
    return root


@pytest.fixture
def class_folder(tmp_path: Path, make_image: Callable[..., bytes]) -> Path:
    """An evaluation folder with capitalised class names and one unreadable file."""
    root = tmp_path / "test"
    for index, name in enumerate(["Angry", "HAPPY", "sad"]):
        (root / name).mkdir(parents=True)
        for copy in range(2):
            (root / name / f"{copy}.png").write_bytes(make_image("PNG", seed=10 * index + copy))
    (root / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, list[str]]:
    """Exit status, stdout and stderr lines of one in-process `emotion` run."""
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def test_predict_table_reports_good_files_and_each_bad_file_once(
    capsys: pytest.CaptureFixture[str], model_path: Path, classifier: Classifier, mixed_folder: Path
) -> None:
    status, out, err = run(capsys, "predict", mixed_folder, "--model", model_path, "--batch-size", "1")
    assert status == 1
    assert sorted(err) == [
        f"error: {mixed_folder / 'empty.png'}: empty file (0 bytes)",
        f"error: {mixed_folder / 'notes.jpg'}: not an image (unknown or unsupported format)",
    ]
    header, *rows = out.splitlines()
    assert header.split() == ["path", "label", *classifier.classes]
    assert [row.split()[0] for row in rows] == [
        str(mixed_folder / "a.png"),
        str(mixed_folder / "nested/b.jpeg"),
    ]
    assert all(row.split()[1] in classifier.classes for row in rows)
    assert len({row.index(row.split()[1]) for row in rows}) == 1  # aligned label column


def test_predict_csv_and_json_agree(
    capsys: pytest.CaptureFixture[str], model_path: Path, classifier: Classifier, mixed_folder: Path
) -> None:
    good = [mixed_folder / "a.png", mixed_folder / "nested" / "b.jpeg"]
    status, out, err = run(capsys, "predict", *good, "--model", model_path, "--format", "csv")
    assert (status, err) == (0, [])
    table = list(csv.DictReader(io.StringIO(out)))
    assert list(table[0]) == ["path", "label", *classifier.classes]
    assert [row["path"] for row in table] == [str(path) for path in good]

    status, out, _ = run(capsys, "predict", *good, "--model", model_path, "--format", "json")
    assert status == 0
    rows = json.loads(out)
    assert [row["path"] for row in rows] == [str(path) for path in good]
    for row, csv_row in zip(rows, table, strict=True):
        assert list(row["probabilities"]) == classifier.classes
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, rel=1e-5)
        assert row["label"] == csv_row["label"] == max(row["probabilities"], key=row["probabilities"].get)
        assert {c: float(csv_row[c]) for c in classifier.classes} == row["probabilities"]


def test_predict_missing_file_is_one_error_line(
    capsys: pytest.CaptureFixture[str], model_path: Path, mixed_folder: Path
) -> None:
    missing = mixed_folder / "gone.png"
    status, out, err = run(capsys, "predict", missing, mixed_folder / "a.png", "--model", model_path)
    assert status == 1
    assert err == [f"error: {missing}: file not found"]
    assert len(out.splitlines()) == 2  # header and the good file


def test_predict_other_formats_are_one_error_line_each(
    capsys: pytest.CaptureFixture[str], model_path: Path, tmp_path: Path
) -> None:
    tiff, eps = tmp_path / "scan.tif", tmp_path / "figure.eps"
    tiff.write_bytes(encode(noise(1), "TIFF"))
    eps.write_bytes(EPS)
    status, out, err = run(capsys, "predict", tiff, eps, "--model", model_path)
    assert (status, len(out.splitlines())) == (1, 1)  # the header only
    accepted = "(accepted: JPEG, PNG, WEBP, GIF, BMP)"
    assert err == [
        f"error: {tiff}: unsupported kind of image: TIFF {accepted}",
        f"error: {eps}: unsupported kind of image: EPS {accepted}",
    ]


def test_evaluate_matches_folders_case_insensitively(
    capsys: pytest.CaptureFixture[str], model_path: Path, classifier: Classifier, class_folder: Path
) -> None:
    status, out, err = run(capsys, "evaluate", class_folder, "--model", model_path, "--batch-size", "4")
    assert status == 0
    report = json.loads(out)
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "n_images", "unreadable"} <= set(report)
    assert report["n_images"] == 6
    assert report["classes"] == classifier.classes
    assert {name: scores["support"] for name, scores in report["per_class"].items()} == dict.fromkeys(
        classifier.classes, 2
    )
    assert set(report["per_class"]["sad"]) == {"precision", "recall", "f1", "support"}
    assert [sum(row) for row in report["confusion_matrix"]] == [2, 2, 2]
    assert report["unreadable"] == [
        {"path": str(class_folder / "sad" / "broken.jpg"), "reason": report["unreadable"][0]["reason"]}
    ]
    assert any("evaluate" in line and "7/7 images" in line for line in err)  # progress on stderr


def test_evaluate_unknown_folder_names_it_and_the_classes(
    capsys: pytest.CaptureFixture[str], model_path: Path, class_folder: Path
) -> None:
    (class_folder / "Neutral").mkdir()  # even empty: a misnamed folder is a mistake worth stopping for
    status, out, err = run(capsys, "evaluate", class_folder, "--model", model_path)
    assert (status, out, len(err)) == (2, "", 1)
    assert err[0].startswith("error: ") and "'Neutral'" in err[0] and "angry, happy, sad" in err[0]


@pytest.mark.parametrize("command", ["predict", "evaluate", "serve"])
def test_missing_model_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, class_folder: Path, command: str
) -> None:
    paths = [] if command == "serve" else [class_folder]
    status, out, err = run(capsys, command, *paths, "--model", tmp_path / "none.keras")
    assert (status, out) == (2, "")
    assert err == [f"error: model file not found: {tmp_path / 'none.keras'} (run `dvc repro` to train one)"]


def test_damaged_model_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    damaged = tmp_path / "model.keras"
    damaged.write_bytes(b"PK\3\4 not really a zip")
    status, _, err = run(capsys, "predict", tmp_path, "--model", damaged)
    assert status == 2
    assert len(err) == 1 and err[0].startswith(f"error: cannot load model {damaged}: ")


def test_serve_on_a_busy_port_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], model_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = run(capsys, "serve", "--model", model_path, "--port", str(port))
    assert (status, out) == (2, "")
    assert err == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_info_prints_devices_precision_versions_and_whether_params_are_valid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    from emotion_pipeline.model.runtime import auto_precision

    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "info")
    lines = out.splitlines()
    assert (status, err) == (0, [])
    assert "device: CPU:0" in lines
    policy, why = auto_precision()
    assert f"precision auto: {policy} ({why})" in lines and why
    assert f"Keras: {metadata.version('keras')}" in lines
    assert {line.split(":")[0] for line in lines} >= {"Python", "TensorFlow", "DVC"}
    assert not any("params.yaml" in line for line in lines)  # none here: nothing to check

    write_params(tmp_path / "params.yaml", {})
    status, out, err = run(capsys, "info")
    assert (status, err, out.splitlines()[-1]) == (0, [], "params.yaml: valid")
    write_params(tmp_path / "params.yaml", {"train.select": "best"})
    status, out, err = run(capsys, "info")
    assert status == 2 and "params.yaml" not in out
    assert err == [
        "error: params.yaml: train.select = 'best': input should be 'last', 'val_loss' or 'val_macro_f1'"
    ]


@pytest.mark.slow
def test_installed_console_script(model_path: Path, mixed_folder: Path) -> None:
    script = Path(sys.executable).with_name("emotion")
    assert script.is_file(), "console script missing: run `pip install -e .`"
    done = subprocess.run(
        [script, "predict", mixed_folder / "a.png", "--model", model_path, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [row["path"] for row in json.loads(done.stdout)] == [str(mixed_folder / "a.png")]
    assert "Traceback" not in done.stderr


def post_upload(port: int, data: bytes, name: str) -> tuple[int, dict[str, str]]:
    """POST one file to the API of a server on loopback: the status and the JSON answer."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        connection.request("POST", "/api/predict", body, headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
def test_serve_process_answers_and_always_ends(
    model_path: Path, tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    """`emotion serve` as a real process on a free port (port 0: no race for it); ended whatever happens."""
    log = tmp_path / "serve.log"
    command = [Path(sys.executable).with_name("emotion"), "serve", "--model", model_path, "--port", "0"]
    with open(log, "wb") as output:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the "serving on" line comes at once
        )

    def listening() -> tuple[bool, str]:
        text = log.read_text()
        return server.poll() is not None or "serving on" in text, text

    try:
        started = wait_until(listening, deadline=180, every=0.5)
        address = re.search(r"serving on http://127\.0\.0\.1:(\d+)", started)
        assert address, started
        port = int(address[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("GET", "/healthz")
            health = connection.getresponse()
            assert (health.status, json.loads(health.read())["status"]) == (200, "ok")
        finally:
            connection.close()
        status, answer = post_upload(port, make_image("JPEG", (300, 200)), "face.jpg")
        assert status == 200 and set(answer) == {"label", "probabilities"}
        status, answer = post_upload(port, EPS, "figure.eps")
        assert status == 400 and answer["error"].startswith("unsupported kind of image: EPS")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def test_explain_writes_one_overlay_per_image_at_its_size(
    capsys: pytest.CaptureFixture[str], model_path: Path, classifier: Classifier, mixed_folder: Path
) -> None:
    out_dir = mixed_folder.parent / "overlays"
    status, out, err = run(capsys, "explain", mixed_folder, "--out", out_dir, "--model", model_path)
    assert status == 1
    assert sorted(err) == [
        f"error: {mixed_folder / 'empty.png'}: empty file (0 bytes)",
        f"error: {mixed_folder / 'notes.jpg'}: not an image (unknown or unsupported format)",
    ]
    assert sorted(path.name for path in out_dir.iterdir()) == ["a_gradcam.png", "b_gradcam.png"]
    for source, name in [("a.png", "a_gradcam.png"), ("nested/b.jpeg", "b_gradcam.png")]:
        with Image.open(mixed_folder / source) as original, Image.open(out_dir / name) as overlay:
            assert (overlay.format, overlay.size) == ("PNG", original.size)
            assert original.size != (classifier.image_size, classifier.image_size)
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{mixed_folder / 'a.png'} -> {out_dir / 'a_gradcam.png'}: ")
    assert all(re.search(rf": evidence for ({'|'.join(classifier.classes)}) \(", line) for line in lines)


@pytest.mark.slow
def test_explain_a_class_asked_for_or_an_unknown_one(
    capsys: pytest.CaptureFixture[str], model_path: Path, mixed_folder: Path, tmp_path: Path
) -> None:
    command = ["explain", mixed_folder / "a.png", "--out", tmp_path, "--model", model_path, "--class"]
    status, out, _ = run(capsys, *command, "SAD")
    assert status == 0 and ": evidence for sad (" in out
    status, out, err = run(capsys, *command, "bored")
    assert (status, out) == (2, "")
    assert err == ["error: unknown class 'bored': the model's classes are angry, happy, sad"]


@pytest.mark.slow
def test_explain_lays_a_face_models_heatmaps_over_each_face_only(
    capsys: pytest.CaptureFixture[str], face_model_path: Path, photo: Callable[[str], Path], tmp_path: Path
) -> None:
    two = photo("Angry/images18.jpg")  # two faces
    framed = Classifier(face_model_path).frame(two)
    status, out, _ = run(capsys, "explain", two, "--out", tmp_path, "--model", face_model_path)
    assert status == 0 and len(framed.faces) == 2
    assert [line.split(" -> ")[0] for line in out.splitlines()] == [
        f"{two} face {n} {list(face.box)}" for n, face in enumerate(framed.faces, 1)
    ]
    with Image.open(two) as original, Image.open(tmp_path / "images18_gradcam.png") as overlaid:
        assert overlaid.size == original.size
        changed = np.abs(np.asarray(overlaid.convert("RGB"), int) - np.asarray(original.convert("RGB"), int))
    outside = np.ones(changed.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in framed.squares:  # what the model saw of each face
        outside[y0:y1, x0:x1] = False
    assert changed[outside].max() == 0 and changed[~outside].max() > 0
