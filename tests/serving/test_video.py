"""Videos: clips the tests make themselves (the synthetic faces gliding and changing expression,
encoded with PyAV), sampled, tracked and classified through `emotion predict`, and every bad video
answered with one line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from video_corpus import BAD_VIDEOS, FPS, SECONDS, SIZE, make_clip, ten_minutes

from emotion_pipeline.data import faces
from emotion_pipeline.data.moving_faces import moving_faces, script, write_clip
from emotion_pipeline.serving.cli import main
from emotion_pipeline.serving.clips import watch
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.tracking import Tracker, overlap
from emotion_pipeline.serving.video import TooLong, VideoError, is_video, samples


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip"))


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, list[str]]:
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def test_the_clip_changes_expression_halfway_and_its_faces_move(clip: Path) -> None:
    """The test clip is what the tests say it is: each face switches class at the midpoint, and moves."""
    assert all(first != second for first, second in script(2))
    frames = list(moving_faces(SECONDS, FPS, SIZE, faces=2))
    assert len(frames) == SECONDS * FPS
    assert not np.array_equal(frames[0], frames[5])  # moved
    assert (
        np.abs(frames[14].astype(int) - frames[15].astype(int)).mean()
        > np.abs(frames[13].astype(int) - frames[14].astype(int)).mean()
    )  # the switch at 1.5 s changes more than a step of drift


@pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "clip.mov", "clip.avi", "clip.mkv", "clip.gif"])
def test_every_container_is_sampled_at_the_asked_rate(tmp_path: Path, name: str) -> None:
    """Frames at k/10 s sampled at 4 fps: the first frame at or after each quarter second."""
    path = make_clip(tmp_path, name, faces=1)
    assert is_video(path)
    times = [round(s.time, 3) for s in samples(path, fps=4)]
    assert times == [0.0, 0.3, 0.5, 0.8, 1.0, 1.3, 1.5, 1.8, 2.0, 2.3, 2.5, 2.8]
    first = next(iter(samples(path, fps=4)))
    assert first.image.size == SIZE and first.image.mode == "RGB" and first.scale == 1.0


def test_a_still_gif_is_an_image_and_an_animated_one_a_video(tmp_path: Path) -> None:
    still = tmp_path / "still.gif"
    Image.new("RGB", (20, 20), "red").save(still)
    assert not is_video(still)
    assert is_video(make_clip(tmp_path, "moving.gif", seconds=0.5))


def test_tracker_keeps_each_face_its_number() -> None:
    tracker = Tracker()
    assert tracker.assign(0.0, [(0, 0, 40, 40), (100, 0, 140, 40)]) == [1, 2]
    # Listed in the other order and moved a little: each keeps its number.
    assert tracker.assign(0.25, [(105, 2, 145, 42), (4, 0, 44, 40)]) == [2, 1]
    # A third face appears; face 1 is unseen for longer than the patience, then back: a new number.
    assert tracker.assign(0.5, [(108, 2, 148, 42), (50, 60, 90, 100)]) == [2, 3]
    assert tracker.assign(1.0, [(109, 2, 149, 42)]) == [2]
    assert tracker.assign(1.6, [(4, 0, 44, 40), (110, 2, 150, 42)]) == [4, 2]
    assert overlap((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert overlap((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_predict_a_clip_writes_rows_summary_and_timeline(
    capsys: pytest.CaptureFixture[str], model_path: Path, clip: Path, tmp_path: Path
) -> None:
    """A whole-image model answers for the whole frame: one face, numbered 1 throughout."""
    out = tmp_path / "out"
    status, stdout, errors = run(
        capsys, "predict", clip, "--model", model_path, "--format", "csv", "--out", out
    )
    assert (status, errors) == (0, [])
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert [float(r["time"]) for r in rows] == pytest.approx(
        [0, 0.3, 0.5, 0.8, 1, 1.3, 1.5, 1.8, 2, 2.3, 2.5, 2.8]
    )
    assert {(r["face"], r["box"]) for r in rows} == {("1", "0,0,160,120")}
    for row in rows:
        probabilities = {name: float(row[name]) for name in ("angry", "happy", "sad")}
        assert sum(probabilities.values()) == pytest.approx(1, rel=1e-5)
        assert row["label"] == max(probabilities, key=probabilities.get)
    assert (out / "clip_rows.csv").read_text() == stdout
    summary = json.loads((out / "clip_summary.json").read_text())
    assert summary["frames"] == 12 and summary["frames_without_face"] == 0
    (face,) = summary["faces"]
    assert face["face"] == 1 and sum(face["share"].values()) == pytest.approx(1)
    labels = [r["label"] for r in rows]
    assert face["share"][face["label"]] == pytest.approx(labels.count(face["label"]) / len(labels), abs=1e-4)
    with Image.open(out / "clip_timeline.png") as picture:
        assert picture.format == "PNG" and picture.width > 600


def test_json_rows_match_the_classifier_on_the_same_frames(
    capsys: pytest.CaptureFixture[str], model_path: Path, classifier: Classifier, clip: Path
) -> None:
    status, stdout, _ = run(capsys, "predict", clip, "--model", model_path, "--format", "json", "--fps", "2")
    rows = json.loads(stdout)
    assert status == 0 and [row["time"] for row in rows] == [0, 0.5, 1, 1.5, 2, 2.5]
    from emotion_pipeline.data.images import to_array

    frames = [to_array(s.image, classifier.image_size) for s in samples(clip, fps=2)]
    expected = classifier.predict_arrays(np.stack(frames))
    got = np.array([list(row["probabilities"].values()) for row in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_a_face_model_without_faces_says_so_per_frame(
    capsys: pytest.CaptureFixture[str], face_model_path: Path, tmp_path: Path
) -> None:
    """No face in any frame (a bare backdrop): each row says `no face found`, the summary has no face,
    and the timeline says why it is empty."""
    empty = make_clip(tmp_path, "empty.mp4", seconds=1.0, faces=0)
    out = tmp_path / "out"
    status, stdout, errors = run(capsys, "predict", empty, "--model", face_model_path, "--out", out)
    assert (status, errors) == (0, [])
    lines = stdout.splitlines()
    assert len(lines) == 1 + 4 and all("no face found" in line for line in lines[1:])
    summary = json.loads((out / "empty_summary.json").read_text())
    assert summary["faces"] == [] and summary["frames_without_face"] == 4
    assert (out / "empty_timeline.png").is_file()


def test_frames_without_a_face_take_the_larger_look_every_other_frame(
    face_classifier: Classifier, two_faces_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame where the first look finds no face retries at the larger look only if the frame before
    did not; a frame with faces found at the first look takes no other."""
    looks: list[list[int]] = []
    detect_at = faces.detect_at

    def recorded(image: Image.Image, pixels: int, min_confidence: float) -> list[faces.Face]:
        if pixels == faces.FRAME_LOOKS[0]:
            looks.append([])
        looks[-1].append(pixels)
        return detect_at(image, pixels, min_confidence)

    monkeypatch.setattr(faces, "detect_at", recorded)
    empty = write_clip(tmp_path / "empty.mp4", moving_faces(2.0, FPS, (640, 360), faces=0), FPS)
    watch(face_classifier, empty, fps=FPS / 2)
    assert looks == [list(faces.FRAME_LOOKS), list(faces.FRAME_LOOKS[:1])] * 5
    looks.clear()
    watch(face_classifier, two_faces_clip, fps=2)
    assert looks == [list(faces.FRAME_LOOKS[:1])] * 6


@pytest.fixture(scope="module")
def two_faces_clip(photo: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo of two people (MTCNN finds real faces, not drawings) panning across the frame."""
    picture = Image.open(photo("Angry/images18.jpg")).convert("RGB")

    def frames() -> Iterator[np.ndarray]:
        for index in range(12):
            canvas = Image.new("RGB", (400, 200), (40, 40, 40))
            canvas.paste(picture, (6 * index, 18))
            yield np.asarray(canvas)

    return write_clip(tmp_path_factory.mktemp("faces") / "two.mp4", frames(), 4)


def test_real_faces_keep_their_numbers_as_they_move(
    face_classifier: Classifier, two_faces_clip: Path
) -> None:
    watched = watch(face_classifier, two_faces_clip, fps=2)
    assert watched.faces == [1, 2]
    by_time: dict[float, dict[int, tuple[int, int, int, int]]] = {}
    for s in watched.sightings:
        assert s.face is not None and s.box is not None and s.probabilities is not None
        by_time.setdefault(s.time, {})[s.face] = s.box
    assert len(by_time) == 6 and all(len(boxes) == 2 for boxes in by_time.values())
    left = min(by_time[0.0], key=lambda n: by_time[0.0][n][0])
    lefts = [boxes[left][0] for boxes in by_time.values()]
    assert all(
        boxes[left][0] < min(b[0] for n, b in boxes.items() if n != left) for boxes in by_time.values()
    )
    assert lefts == sorted(lefts) and lefts[-1] - lefts[0] >= 40  # the same face, moving right


@pytest.fixture
def bad_video(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    name = request.param
    make, reason = BAD_VIDEOS[name]
    return make(tmp_path / name), reason


@pytest.mark.parametrize("bad_video", sorted(BAD_VIDEOS), indirect=True)
def test_a_bad_video_is_one_error_line_and_the_rest_still_run(
    capsys: pytest.CaptureFixture[str], model_path: Path, clip: Path, bad_video: tuple[Path, str]
) -> None:
    path, reason = bad_video
    status, stdout, errors = run(capsys, "predict", path, clip, "--model", model_path, "--format", "csv")
    assert status == 1
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}: {reason}"), errors
    assert len(stdout.splitlines()) == 1 + 12  # the good clip's rows


def test_a_long_video_is_refused_where_there_is_a_limit_and_streamed_where_not(tmp_path: Path) -> None:
    path = ten_minutes(tmp_path / "long.mp4")
    with pytest.raises(TooLong, match=r"video too long: 60\d s, the limit is 60 s"):
        next(samples(path, fps=4, max_seconds=60))
    assert [round(s.time) for s in samples(path, fps=4)] == [0, 600]


def test_images_and_videos_together_are_refused_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], clip: Path, tmp_path: Path, make_image: Callable[..., bytes]
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_image())
    status, _, errors = run(capsys, "predict", clip, image, "--model", tmp_path / "absent.keras")
    assert status == 2 and errors == ["error: images and videos: give one kind at a time"]
    status, _, errors = run(capsys, "predict", image, "--out", tmp_path, "--model", tmp_path / "absent.keras")
    assert status == 2 and errors == ["error: --out is for videos only"]
    with pytest.raises(VideoError, match="is a folder"):
        next(samples(tmp_path))


def test_a_webm_cut_short_answers_for_the_frames_before_the_cut(tmp_path: Path) -> None:
    """WebM/Matroska and GIF stream frame by frame: a file cut short is a shorter video, not an error."""
    data = make_clip(tmp_path, "whole.webm", faces=1).read_bytes()
    times = [s.time for s in samples(data[: len(data) // 2], fps=4)]
    assert 1 <= len(times) < 12 and times == sorted(times)
