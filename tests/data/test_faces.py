"""Faces: found on real photos and nowhere else, cropped square inside the image, through the faces
stage (the face table, both fallbacks, off), the CLI's rows and the API's list.

Real photos come from the web-emotions dataset beside the repository; without it these tests skip.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import CLASSES, tiny_classifier
from corpus import encode
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from project import ROOT, load_stage, write_params

from emotion_pipeline.core.tables import read_json, read_table, table, write_json, write_table
from emotion_pipeline.data import faces as faces_module
from emotion_pipeline.data.faces import (
    LOOKS,
    MAX_FACES,
    FaceSettings,
    crop,
    crop_box,
    detect,
    frame,
    read_settings,
    settings_config,
    settings_from,
)
from emotion_pipeline.data.images import MAX_DECODE_BYTES, load_image, load_photo, to_array
from emotion_pipeline.data.splitting import SPLIT_COLUMNS, content_hash
from emotion_pipeline.serving.cli import main
from emotion_pipeline.serving.overlays import overlay
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.webapp import create_app

# The slow tier: face detection on real photos, through the faces stage, the CLI and the API.
pytestmark = pytest.mark.slow

ONE = "Angry/YdGPmBa6UZj8pxM95T2ADA-320-80.jpg"  # one face
TWO = "Angry/images18.jpg"  # two faces
SIX = "Happy/images12.jpg"  # six faces
NONE = "Sad/man-with-head-down-300x300.jpg"  # a head bowed: no face to find
# A hand-made split: one image with a face and one without in each training class.
SPLIT = {
    "train": [
        ("angry", ONE),
        ("angry", "Angry/depositphotos_53144077-stock-photo-businesswoman-covering-her-face-with.jpg"),
        ("happy", "Happy/images22.jpg"),
        ("happy", "Happy/images20.jpg"),
        ("sad", "Sad/image18.jpeg"),
        ("sad", NONE),
    ],
    "val": [
        ("angry", "Angry/angry-man-shouting-out-loud-260nw-1417294826.jpg"),
        ("happy", "Happy/images14.jpg"),
        ("sad", "Sad/portrait-sad-man-260nw-126009806.jpg"),
    ],
    "test": [("angry", TWO), ("happy", SIX), ("sad", "Sad/depressed-man-studio-shot-260nw-404652526.jpg")],
}
FACES_FOUND = {ONE: 1, TWO: 2, SIX: 6, NONE: 0}
NO_FACE_IN_TRAIN = {SPLIT["train"][i][1] for i in (1, 3, 5)}


def noise(width: int, height: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_faces_are_found_on_photos_and_none_on_blank_noise_or_tiny_images(photo) -> None:
    for name, expected in FACES_FOUND.items():
        image = load_photo(photo(name)).image
        faces = detect(image)
        assert len(faces) == expected, name
        for face in faces:
            x0, y0, x1, y1 = face.box
            assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
            assert face.confidence >= 0.9
        areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
        assert areas == sorted(areas, reverse=True)  # largest first
    for image in (
        Image.new("RGB", (640, 480), "white"),
        noise(640, 480),
        Image.new("RGB", (1, 1)),
        noise(11, 13),
    ):
        assert detect(image) == []


def test_detection_is_deterministic_across_threads(photo) -> None:
    image = load_photo(photo(SIX)).image
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(detect, [image] * 4))
    assert all(faces == found[0] for faces in found) and len(found[0]) == 6


@given(st.data())
def test_crop_boxes_are_squares_inside_the_image(data: st.DataObject) -> None:
    width, height = data.draw(st.integers(1, 5000)), data.draw(st.integers(1, 5000))
    x0, x1 = sorted(data.draw(st.lists(st.integers(0, width), min_size=2, max_size=2, unique=width > 0)))
    y0, y1 = sorted(data.draw(st.lists(st.integers(0, height), min_size=2, max_size=2, unique=height > 0)))
    margin = data.draw(st.floats(0, 1))
    left, top, right, bottom = crop_box((x0, y0, x1, y1), width, height, margin)
    side = right - left
    assert side == bottom - top >= 1
    assert 0 <= left <= right <= width and 0 <= top <= bottom <= height
    wanted = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    assert side == max(1, round(min(wanted, width, height)))  # never padded: smaller only to fit
    if side < min(width, height):  # not pinned by the image's size: centred on the face, within a pixel
        assert abs((left + right) - (x0 + x1)) <= 2 or left in (0, width - side)
        assert abs((top + bottom) - (y0 + y1)) <= 2 or top in (0, height - side)


def test_a_10000_pixel_panorama_keeps_its_faces(photo) -> None:
    face = Image.open(photo(ONE)).convert("RGB").resize((346, 300))
    panorama = Image.new("RGB", (10_000, 300), "white")
    for left in range(0, 10_000 - 346, 346):
        panorama.paste(face, (left, 0))
    # 28 faces; on a copy 640 px wide they would be 19 px tall, under MTCNN's smallest: none found.
    assert len(detect(panorama)) >= 14


class Crowd:
    """A stand-in detector that finds more faces than a photo's answer lists, 40 px apart."""

    def detect_faces(self, array: np.ndarray, **_: object) -> list[dict[str, object]]:
        eyes = {"left_eye": (5, 10), "right_eye": (15, 10)}
        return [
            {"box": [40 * n, 0, 40 * n + 29, 29], "confidence": 0.99, "keypoints": eyes}
            for n in range(array.shape[1] // 40)
        ]


def test_a_crowd_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces_module, "_detector", Crowd())
    framed = frame(encode(Image.new("RGB", (2000, 100), "white"), "PNG"), 32, FaceSettings())
    assert len(framed.faces) == len(framed.inputs) == MAX_FACES < 2000 // 40
    assert framed.inputs.shape[1:] == (32, 32, 3)


class LooksRecorder:
    """A stand-in detector: records each detection copy's size, finds a face only on copies larger
    than `finds_above` pixels (a face too small for the first look)."""

    def __init__(self, finds_above: int) -> None:
        self.finds_above, self.looks = finds_above, []

    def detect_faces(self, array: np.ndarray, **_: object) -> list[dict[str, object]]:
        self.looks.append(array.shape[:2])
        big_enough = array.shape[0] * array.shape[1] > self.finds_above
        eyes = {"left_eye": (20, 30), "right_eye": (50, 30)}
        return [{"box": [10, 10, 59, 59], "confidence": 0.99, "keypoints": eyes}] if big_enough else []


def test_a_larger_look_only_where_the_smaller_ones_find_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    small_faces = LooksRecorder(finds_above=LOOKS[1])
    monkeypatch.setattr(faces_module, "_detector", small_faces)
    [face] = detect(Image.new("RGB", (4000, 3000)))
    assert small_faces.looks == [(240, 320), (480, 640), (768, 1024)]  # each within its pixel budget
    assert face.box == (39, 39, 234, 234)  # the last copy's (10, 10)-(60, 60) x 4000 / 1024
    small_faces.looks.clear()
    assert detect(Image.new("RGB", (640, 480))) == []  # no larger copy to make: it stops there
    assert small_faces.looks == [(240, 320), (480, 640)]
    big_faces = LooksRecorder(finds_above=0)
    monkeypatch.setattr(faces_module, "_detector", big_faces)
    assert len(detect(Image.new("RGB", (4000, 3000)))) == 1 and big_faces.looks == [(240, 320)]


def test_photos_decode_at_full_size_and_huge_ones_within_the_byte_budget(photo) -> None:
    decoded = load_photo(photo(ONE))
    with Image.open(photo(ONE)) as original:
        assert decoded.image.size == original.size and decoded.scale == 1.0
    script = (
        "import json, resource\n"
        "from corpus import uniform_png\n"
        "from emotion_pipeline.data.images import load_photo\n"
        "data = uniform_png(10_000, 10_000, 16)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "photo = load_photo(data)\n"
        "growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024\n"
        "print(json.dumps({'size': photo.image.size, 'scale': photo.scale, 'growth': growth}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    width, height = measured["size"]
    assert 2_000 < width == height < 10_000 and measured["scale"] == pytest.approx(10_000 / width)
    assert measured["growth"] < MAX_DECODE_BYTES, f"{measured['growth'] / 2**20:.0f} MiB"


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The split stage's files for SPLIT, pointing at the photos where they are, plus a skipped file."""
    from conftest import WEB_EMOTIONS

    if not WEB_EMOTIONS.is_dir():
        pytest.skip(f"{WEB_EMOTIONS} not found (the web-emotions dataset beside the repository)")
    root = tmp_path_factory.mktemp("split")
    counts = {}
    for name, rows in SPLIT.items():
        paths = [(WEB_EMOTIONS / relative, label) for label, relative in rows]
        write_table(
            root / f"{name}.csv",
            table([(p.as_posix(), label, content_hash(p)) for p, label in paths], SPLIT_COLUMNS),
        )
        counts[name] = {label: sum(1 for lab, _ in rows if lab == label) for label in CLASSES}
    write_json(root / "counts.json", counts)
    write_table(root / "skipped.csv", table([("data/sad/notes.txt", "not an image")], ("path", "reason")))
    return root


def run_faces(split_dir: Path, out: Path, changes: dict[str, object]) -> int:
    params = write_params(out.parent / f"{out.name}.yaml", changes)
    return load_stage("faces").main(
        ["--params", str(params), "--split-dir", str(split_dir), "--out-dir", str(out)]
    )


@pytest.fixture(scope="module")
def framed_whole(split_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faces") / "whole"
    assert run_faces(split_dir, out, {"faces.detect": True}) == 0
    return out


def test_the_faces_stage_lists_every_images_faces(framed_whole: Path) -> None:
    faces = read_table(framed_whole / "faces.csv")
    per_image = faces.drop_duplicates("path").set_index("path")["faces"].astype(int)
    assert len(per_image) == 12
    by_name = {Path(path).parent.name + "/" + Path(path).name: n for path, n in per_image.items()}
    assert {name: by_name[name] for name in FACES_FOUND} == FACES_FOUND
    found = faces[faces["faces"] != "0"]
    assert len(found) == sum(by_name.values())
    assert (found["confidence"].astype(float) >= 0.9).all()
    assert read_json(framed_whole / "settings.json") == {
        "detect": True,
        "min_confidence": 0.9,
        "margin": 0.1,
        "fallback": "whole",
        "align": False,
    }


def test_each_list_row_is_the_largest_faces_square_crop_or_the_whole_image(
    framed_whole: Path, split_dir: Path
) -> None:
    train = read_table(framed_whole / "train.csv")
    assert list(train.columns) == [*SPLIT_COLUMNS, "source"]
    assert train["source"].tolist() == read_table(split_dir / "train.csv")["path"].tolist()
    for row in train.itertuples():
        name = Path(row.source).parent.name + "/" + Path(row.source).name
        if name in NO_FACE_IN_TRAIN:
            assert (row.path, row.md5) == (row.source, content_hash(row.source))
            continue
        assert row.path.startswith(f"{framed_whole.as_posix()}/crops/{row.label}/")
        assert row.md5 == content_hash(row.path)
        photo = load_photo(Path(row.source)).image
        expected = crop(photo, detect(photo)[0].box, 0.1)
        with Image.open(row.path) as saved:
            assert saved.width == saved.height
            np.testing.assert_array_equal(np.asarray(saved), np.asarray(expected))
    assert read_json(framed_whole / "counts.json") == read_json(split_dir / "counts.json")
    assert read_table(framed_whole / "skipped.csv")["path"].tolist() == ["data/sad/notes.txt"]


def test_skip_leaves_images_without_a_face_out_and_says_why(
    split_dir: Path, tmp_path: Path, framed_whole: Path
) -> None:
    out = tmp_path / "skip"
    assert run_faces(split_dir, out, {"faces.detect": True, "faces.fallback": "skip"}) == 0
    train = read_table(out / "train.csv")
    assert len(train) == 3 and all("/crops/" in path for path in train["path"])
    skipped = read_table(out / "skipped.csv")
    no_face = {
        Path(p).parent.name + "/" + Path(p).name
        for p in skipped[skipped["reason"] == "no face found"]["path"]
    }
    assert no_face == NO_FACE_IN_TRAIN
    assert read_json(out / "counts.json")["train"] == dict.fromkeys(CLASSES, 1)
    assert read_table(out / "faces.csv").equals(read_table(framed_whole / "faces.csv"))


def test_skip_stops_when_a_class_loses_a_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], photo
) -> None:
    lonely = tmp_path / "split"
    lonely.mkdir()
    rows = {"train": "Sad/image18.jpeg", "val": "Sad/portrait-sad-man-260nw-126009806.jpg", "test": NONE}
    for name, relative in rows.items():
        path = photo(relative)
        write_table(
            lonely / f"{name}.csv", table([(path.as_posix(), "sad", content_hash(path))], SPLIT_COLUMNS)
        )
    (lonely / "skipped.csv").write_text("path,reason\n")
    assert run_faces(lonely, tmp_path / "out", {"faces.detect": True, "faces.fallback": "skip"}) == 1
    assert "no image with a face left for sad in test" in capsys.readouterr().err
    assert not (tmp_path / "out" / "test.csv").exists() and not (tmp_path / "out" / "settings.json").exists()


def test_with_detection_off_the_stage_copies_the_split_without_tensorflow(
    split_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "off"
    params = write_params(tmp_path / "params.yaml", {"faces.margin": 0.3})
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('stage', {str(ROOT / 'stages/faces.py')!r})\n"
        "stage = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(stage)\n"
        f"status = stage.main(['--params', {str(params)!r}, '--split-dir', {str(split_dir)!r}, "
        f"'--out-dir', {str(out)!r}])\n"
        "print(status, 'tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.stdout.split()[-2:] == ["0", "False"], done.stderr
    for name in ("train.csv", "val.csv", "test.csv", "counts.json", "skipped.csv"):
        assert (out / name).read_bytes() == (split_dir / name).read_bytes()
    assert read_json(out / "settings.json") == {"detect": False}  # no margin: it changes nothing
    assert read_table(out / "faces.csv").empty


def post(client, data: bytes) -> dict:
    response = client.post("/api/predict", data={"file": (io.BytesIO(data), "photo")})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_api_answers_for_the_largest_face_and_lists_every_face(
    face_classifier: Classifier, photo
) -> None:
    client = create_app(face_classifier).test_client()
    answer = post(client, photo(TWO).read_bytes())
    boxes = [list(face.box) for face in detect(load_photo(photo(TWO)).image)]
    assert [face["box"] for face in answer["faces"]] == boxes
    assert {face["label"] for face in answer["faces"]} <= set(CLASSES)
    assert answer["label"] == answer["faces"][0]["label"]
    assert answer["probabilities"] == answer["faces"][0]["probabilities"]
    # No face under `whole`: the whole image, exactly as the model without faces would see it.
    answer = post(client, photo(NONE).read_bytes())
    assert answer["faces"] == []
    whole = face_classifier.predict_arrays(load_image(photo(NONE), 32)[None])[0]
    assert list(answer["probabilities"].values()) == pytest.approx(list(whole), rel=1e-6)
    tiny = post(client, encode(Image.new("RGB", (1, 1)), "PNG"))
    assert tiny["faces"] == [] and tiny["label"] in CLASSES


@pytest.fixture(scope="module")
def skip_classifier(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    faces = {"detect": True, "min_confidence": 0.9, "margin": 0.1, "fallback": "skip"}
    return Classifier(tiny_classifier(tmp_path_factory.mktemp("skip") / "model.keras", faces))


def test_under_skip_an_image_without_a_face_has_no_answer(skip_classifier: Classifier, photo) -> None:
    answer = post(create_app(skip_classifier).test_client(), photo(NONE).read_bytes())
    assert answer == {"label": None, "probabilities": None, "faces": []}


def test_predict_prints_a_row_per_face_and_no_face_found(
    capsys: pytest.CaptureFixture[str], face_model_path: Path, photo
) -> None:
    two, none = photo(TWO), photo(NONE)
    boxes = [list(face.box) for face in detect(load_photo(two).image)]
    assert main(["predict", str(two), str(none), "--model", str(face_model_path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["path"], row["face"], row["box"]) for row in rows] == [
        (str(two), 1, boxes[0]),
        (str(two), 2, boxes[1]),
        (str(none), None, None),
    ]
    assert rows[2]["note"] == "no face found" and rows[2]["label"] in CLASSES  # whole image under `whole`

    assert main(["predict", str(two), str(none), "--model", str(face_model_path), "--format", "csv"]) == 0
    table_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(row["face"], row["box"]) for row in table_rows] == [
        ("1", ",".join(map(str, boxes[0]))),
        ("2", ",".join(map(str, boxes[1]))),
        ("", "no face found"),
    ]
    assert [row["label"] for row in table_rows] == [row["label"] for row in rows]

    assert main(["predict", str(two), str(none), "--model", str(face_model_path)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["path", "face", "box", "label", *CLASSES]
    assert [line.split()[:3] for line in lines] == [
        [str(two), "1", ",".join(map(str, boxes[0]))],
        [str(two), "2", ",".join(map(str, boxes[1]))],
        [str(none), "-", "no"],
    ]
    assert "no face found" in lines[2]


def test_evaluate_under_skip_lists_images_without_a_face(
    capsys: pytest.CaptureFixture[str], skip_classifier: Classifier, tmp_path: Path, photo
) -> None:
    model = tmp_path / "model.keras"
    skip_classifier.model.save(model)
    for label, name in (("angry", ONE), ("sad", NONE)):
        (tmp_path / "photos" / label).mkdir(parents=True)
        (tmp_path / "photos" / label / Path(name).name).write_bytes(photo(name).read_bytes())
    assert main(["evaluate", str(tmp_path / "photos"), "--model", str(model)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_images"] == 1
    assert metrics["no_face"] == [str(tmp_path / "photos" / "sad" / Path(NONE).name)]


def test_a_face_crop_from_memory_equals_the_stage_crop_read_back(photo) -> None:
    """Serving classifies crops from memory; training reads them back from the stage's PNG files."""
    image = load_photo(photo(ONE)).image
    square = crop(image, detect(image)[0].box, 0.1)
    np.testing.assert_array_equal(to_array(square, 32), load_image(encode(square, "PNG"), 32))


def eye_angle(image: Image.Image) -> float:
    """Degrees from level of the line through the largest face's eyes, as MTCNN finds them."""
    (x0, y0), (x1, y1) = detect(image, 0.5)[0].eyes
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


@pytest.mark.parametrize("name", [ONE, "Sad/portrait-sad-man-260nw-126009806.jpg"])
@pytest.mark.parametrize("turn", [20, -20])
def test_alignment_levels_a_face_turned_by_20_degrees(photo, name: str, turn: int) -> None:
    upright = load_photo(photo(name)).image
    turned = upright.rotate(turn, Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    [face] = detect(turned)
    margin = 0.4  # room around the face for MTCNN to find it again in the crop
    settings = FaceSettings(margin=margin, align=True)
    assert abs(settings.turn(face) + turn) <= 5  # the lean found: the turn undone, as MTCNN's eyes say
    aligned = settings.crop(turned, face)
    assert abs(eye_angle(aligned)) <= 3
    assert abs(eye_angle(FaceSettings(margin=margin).crop(turned, face))) >= 12  # not aligned: still turned
    assert aligned.width == aligned.height
    side = crop_box(face.box, turned.width, turned.height, margin)
    assert aligned.width == side[2] - side[0]


def test_aligned_framing_in_the_stage_serving_and_the_model_alike(
    split_dir: Path, tmp_path: Path, photo
) -> None:
    out = tmp_path / "aligned"
    assert run_faces(split_dir, out, {"faces.detect": True, "faces.align": True}) == 0
    settings = read_settings(out)
    assert settings == FaceSettings(align=True)
    train = read_table(out / "train.csv")
    saved = train[train["source"].str.endswith(Path(SPLIT["train"][4][1]).name)].iloc[0]
    image = load_photo(Path(saved["source"])).image
    [face] = detect(image)
    with Image.open(saved["path"]) as crop_read_back:
        np.testing.assert_array_equal(np.asarray(crop_read_back), np.asarray(settings.crop(image, face)))
        assert not np.array_equal(np.asarray(crop_read_back), np.asarray(crop(image, face.box, 0.1)))
        framed = frame(Path(saved["source"]), 32, settings)
        np.testing.assert_array_equal(framed.inputs[0], load_image(encode(crop_read_back, "PNG"), 32))
    assert framed.turns == [settings.turn(face)] and framed.turns[0] != 0  # for the heatmap's overlay
    model = tiny_classifier(tmp_path / "aligned.keras", settings_config(settings))
    assert Classifier(model).faces == settings  # the model crops as its training crops were cut
    old = {"detect": True, "min_confidence": 0.9, "margin": 0.1, "fallback": "whole"}
    assert settings_from(old) == FaceSettings()  # saved before `align`: not turned, as trained


def test_a_turned_faces_heatmap_is_laid_back_turned() -> None:
    """The model saw the face turned upright: its map goes back over the square turned as the face
    leans. Heat in the map's top-left corner lands top-right after a quarter turn clockwise."""
    picture = np.zeros((120, 120, 3), dtype=np.uint8)
    heatmap = np.array([[1.0, 0.0], [0.0, 0.0]])

    def heat(drawn: np.ndarray) -> dict[str, float]:
        square = drawn[10:110, 10:110].astype(float).sum(axis=2)
        return {"top left": square[:50, :50].sum(), "top right": square[:50, 50:].sum()}

    upright = heat(overlay(picture, heatmap, (10, 10, 110, 110)))
    turned = heat(overlay(picture, heatmap, (10, 10, 110, 110), 90.0))
    assert upright["top left"] > 5 * upright["top right"]
    assert turned["top right"] > 5 * turned["top left"]
    assert turned["top right"] == pytest.approx(upright["top left"], rel=0.05)


def test_an_aligned_models_api_and_cli_lay_the_heatmap_back_turned(
    photo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = FaceSettings(align=True)
    model = tiny_classifier(tmp_path / "aligned.keras", settings_config(settings))
    upright = load_photo(photo(ONE)).image
    turned = tmp_path / "turned.png"
    upright.rotate(20, Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)).save(turned)
    client = create_app(Classifier(model)).test_client()
    data = {"file": (io.BytesIO(turned.read_bytes()), "turned.png")}
    explain = client.post("/api/predict?explain=1", data=data).get_json()["explain"]
    assert explain["turn"] == pytest.approx(-20, abs=5)
    assert main(["explain", str(turned), "--out", str(tmp_path / "maps"), "--model", str(model)]) == 0
    assert "evidence for" in capsys.readouterr().out
    with Image.open(tmp_path / "maps" / "turned_gradcam.png") as drawn:
        assert drawn.size == Image.open(turned).size


def test_the_report_says_whether_faces_were_aligned() -> None:
    import pandas as pd

    from emotion_pipeline.report.page import faces_lines

    found = pd.DataFrame({"path": ["a.jpg", "b.jpg"], "label": ["sad", "happy"], "faces": ["1", "0"]})
    settings = {"min_confidence": 0.9, "margin": 0.1, "fallback": "whole"}
    for align in (False, True):
        text = "\n".join(faces_lines(found, {"faces": {**settings, "align": align}}))
        assert ("turned so its eyes are level" in text) is align and "margin of 0.1" in text
