"""The page's video upload and camera mode in a real headless Chromium, its camera faked from a clip
(`--use-file-for-fake-video-capture`), served by waitress as in production."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from conftest import CLASSES
from PIL import Image
from test_browser import CHROMIUM, CHROMIUM_ARGS, serving
from video_corpus import make_clip

from emotion_pipeline.serving.predict import Classifier

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCREENSHOT = Path("/tmp/webapp-camera.png")  # for a person to look at; not compared
TWO_PEOPLE = ("Angry/Angry-Customer.jpg", "Happy/Happy-Guy.jpg")  # one face each, MTCNN finds both

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"{CHROMIUM} not installed (Debian package `chromium`)"
    ),
]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """Frames as a YUV4MPEG2 file (4:2:0), the format Chromium's fake camera plays, in a loop."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as file:
        file.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for pixels in frames:
            y, cb, cr = Image.fromarray(pixels).convert("YCbCr").split()
            file.write(b"FRAME\n" + y.tobytes())
            for plane in (cb, cr):
                file.write(plane.resize((width // 2, height // 2), Image.Resampling.BILINEAR).tobytes())
    return path


@pytest.fixture(scope="module")
def camera_clip(photo: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real faces (MTCNN finds real faces, not drawings) drifting across a 640 x 480 frame."""
    picture = Image.open(photo("Angry/images18.jpg")).convert("RGB").resize((620, 326))
    frames = []
    for index in range(20):
        canvas = Image.new("RGB", (640, 480), (40, 40, 40))
        canvas.paste(picture, (index, 70))
        frames.append(np.asarray(canvas))
    return write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", frames, 10)


@contextmanager
def camera_page(url: str, clip: Path) -> Iterator[tuple[Page, list[str]]]:
    """A Chromium page at `url` whose camera plays `clip`, permission granted; and its errors."""
    from playwright.sync_api import sync_playwright

    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, *fake, f"--use-file-for-fake-video-capture={clip}"],
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


def test_camera_mode_draws_each_face_with_its_label(face_classifier: Classifier, camera_clip: Path) -> None:
    from playwright.sync_api import expect

    with serving(face_classifier) as url, camera_page(url, camera_clip) as (page, errors):
        page.click("#camera-start")
        expect(page.locator("#camera")).to_be_visible(timeout=30_000)
        began = time.monotonic()
        status = page.locator("#camera-status")
        expect(status).to_have_attribute("data-answered", re.compile(r"^([6-9]|\d\d+)$"), timeout=60_000)
        seconds = time.monotonic() - began
        boxes = page.locator("#camera-boxes .face-box")
        expect(boxes).to_have_count(2)
        labels = set(page.locator("#camera-boxes .face-label").all_text_contents())
        assert labels <= set(face_classifier.classes) and labels
        answered = int(status.get_attribute("data-answered") or 0)
        print(f"camera mode: {answered} frames answered in {seconds:.1f} s ({answered / seconds:.1f}/s)")
        assert page.locator("#camera-chart").is_visible()
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        page.click("#camera-stop")
        expect(boxes).to_have_count(0)
        expect(page.locator("#camera-frame")).to_be_hidden()
        assert errors == []


@pytest.fixture(scope="module")
def two_people(photo: Callable[[str], Path]) -> list[list[np.ndarray]]:
    """Camera frames: one person's face for a second, then another's in the same place (10 frames
    each, 640 x 480, drifting a little)."""
    halves = []
    for name in TWO_PEOPLE:
        picture = Image.open(photo(name)).convert("RGB")
        picture.thumbnail((440, 400))
        frames = []
        for index in range(10):
            canvas = Image.new("RGB", (640, 480), (40, 40, 40))
            canvas.paste(picture, (100 + 2 * index, 40))
            frames.append(np.asarray(canvas))
        halves.append(frames)
    return halves


@pytest.fixture(scope="module")
def telling_classifier(
    two_people: list[list[np.ndarray]], tmp_path_factory: pytest.TempPathFactory
) -> Classifier:
    """The tiny face model with a head that tells the two people apart as the frames show them: the
    first person is its first class, the second its second, so the page's labels must change with the
    face in view. The head is set, not trained (training from a random base failed now and then): its
    hidden units measure which person's mean features a face's features lie nearer to, along the line
    between the two means."""
    from emotion_pipeline.data.faces import FaceSettings, frame_picture, settings_config
    from emotion_pipeline.model.network import assemble, build_head, build_vgg16

    settings = FaceSettings()
    rows = [[frame_picture(Image.fromarray(f), 32, settings).inputs[0] for f in half] for half in two_people]
    base = build_vgg16(None, 32)
    head = build_head(base.output_shape[1:], CLASSES, 2, 0.0)
    model = assemble(base, head, CLASSES, 32, faces=settings_config(settings))
    preprocess = model.get_layer("vgg16_preprocess")
    means = [
        np.asarray(base(preprocess(np.stack(half).astype("float32")))).reshape(len(half), -1).mean(0)
        for half in rows
    ]
    apart = means[0] - means[1]
    towards = 2 * apart / (apart @ apart)  # +1 at the first mean, -1 at the second, along `apart`
    middle = (means[0] + means[1]) / 2
    hidden = np.stack([towards, -towards], axis=1)
    head.layers[1].set_weights([hidden, np.array([-towards @ middle, towards @ middle])])
    out = np.zeros((2, len(CLASSES)), "float32")
    out[0, 0] = out[1, 1] = 10.0
    head.layers[3].set_weights([out, np.zeros(len(CLASSES), "float32")])
    path = tmp_path_factory.mktemp("telling") / "model.keras"
    model.save(path)
    classifier = Classifier(path)
    answers = classifier.predict_arrays(np.concatenate([np.stack(half) for half in rows]), 20).argmax(1)
    assert answers.tolist() == [0] * len(rows[0]) + [1] * len(rows[1]), "the head must tell them apart"
    return classifier


def test_camera_labels_change_with_the_face_in_view(
    telling_classifier: Classifier, two_people: list[list[np.ndarray]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    clip = write_y4m(tmp_path / "two_people.y4m", [f for half in two_people for f in half], 10)
    with serving(telling_classifier) as url, camera_page(url, clip) as (page, errors):
        page.evaluate(
            """() => {
              window.seenLabels = [];
              const boxes = document.getElementById("camera-boxes");
              new MutationObserver(() => {
                const tags = boxes.querySelectorAll(".face-label");
                for (const tag of tags) window.seenLabels.push(tag.textContent);
              }).observe(boxes, { childList: true });
            }"""
        )
        page.click("#camera-start")
        expect(page.locator("#camera")).to_be_visible(timeout=30_000)
        page.wait_for_function("() => new Set(window.seenLabels).size >= 2", timeout=60_000)
        seen = page.evaluate("window.seenLabels")
        assert set(seen) == set(CLASSES[:2]), seen
        assert errors == []


def test_video_upload_shows_the_timeline_and_each_faces_shares(
    classifier: Classifier, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    clip = make_clip(tmp_path, faces=1)
    with serving(classifier) as url, camera_page(url, clip) as (page, errors):
        page.set_input_files("#video-file", str(clip))
        timeline = page.locator("#timeline")
        expect(timeline).to_be_visible(timeout=60_000)
        assert (timeline.get_attribute("src") or "").startswith("data:image/png;base64,")
        expect(page.locator("#video-status")).to_contain_text("12 frames sampled, 1 face")
        expect(page.locator("#video-faces li")).to_have_count(1)
        expect(page.locator("#video-faces li")).to_contain_text(
            re.compile(r"^Face 1 \(0\u20132.8 s\): \w+ \d+%")
        )
        page.set_input_files(
            "#video-file", files=[{"name": "bad.mp4", "mimeType": "video/mp4", "buffer": b"x"}]
        )
        expect(page.locator("#video-status")).to_contain_text("Video failed: not a readable video")
        assert errors == [] or all("400" in error for error in errors)  # the bad upload's own 400
