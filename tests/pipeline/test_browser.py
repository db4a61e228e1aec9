"""The upload page in a real headless Chromium, served by waitress as in production."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.webapp import create_app, make_server

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OFF_MACHINE = re.compile(r"^(?!file:|https?://127\.0\.0\.1[:/])")  # every URL but files and loopback
SCREENSHOT = Path("/tmp/webapp.png")  # for a person to look at; not compared
SCREENSHOT_HEATMAP = Path("/tmp/webapp_heatmap.png")
FACES_SCREENSHOT = Path("/tmp/webapp-faces.png")
NO_FACE_PHOTO = "Sad/man-with-head-down-300x300.jpg"

pytestmark = [
    pytest.mark.slow,  # a browser and a server
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"{CHROMIUM} not installed (Debian package `chromium`)"
    ),
]


@contextmanager
def serving(classifier: Classifier) -> Iterator[str]:
    """The app on a free loopback port, served by waitress in a background thread."""
    server = make_server(create_app(classifier), "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


@contextmanager
def browser_page(url: str) -> Iterator[tuple[Page, list[str]]]:
    """A Chromium page open at `url`, and the script exceptions and console errors (CSP violations
    included) it reports. The page is offline: a request leaving the machine is aborted and listed
    among the errors as `blocked: <url>`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.route(OFF_MACHINE, lambda route: _block(route, errors))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


def _block(route: Route, errors: list[str]) -> None:
    errors.append(f"blocked: {route.request.url}")
    route.abort("internetdisconnected")


@pytest.fixture(scope="module")
def base_url(classifier: Classifier) -> Iterator[str]:
    with serving(classifier) as url:
        yield url


@pytest.fixture(scope="module")
def face_url(face_classifier: Classifier) -> Iterator[str]:
    with serving(face_classifier) as url:
        yield url


def label_pattern(classifier: Classifier) -> re.Pattern[str]:
    return re.compile(f"^({'|'.join(map(re.escape, classifier.classes))})$")


def test_upload_shows_the_apis_prediction(
    base_url: str, classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    from playwright.sync_api import expect

    image = make_image("PNG", (224, 224), seed=3)
    upload = {"name": "face.png", "mimeType": "image/png", "buffer": image}
    with browser_page(base_url) as (page, errors):
        page.set_input_files("#file", files=[upload])
        expect(page.locator("#label")).to_have_text(label_pattern(classifier), timeout=30_000)
        expect(page.locator("#preview")).to_be_visible()
        expect(page.locator("#heatmap")).to_be_hidden()

        answer = page.request.post(f"{base_url}/api/predict", multipart={"file": upload}).json()
        assert page.locator("#label").text_content() == answer["label"]  # shown capitalised by CSS
        assert page.locator(".bar").count() == len(classifier.classes)
        top = page.locator(".bar.top")
        expect(top).to_have_attribute("data-class", answer["label"])
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert errors == []

        page.set_input_files(
            "#file", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"hi"}]
        )
        expect(page.locator("#error")).to_have_text(re.compile("not an image"))
        expect(page.locator("#label")).not_to_have_text(answer["label"])


def test_each_face_gets_a_box_with_its_label_over_the_preview(face_url: str, photo) -> None:
    from playwright.sync_api import expect

    two = {"name": "two.jpg", "mimeType": "image/jpeg", "buffer": photo("Angry/images18.jpg").read_bytes()}
    none = {"name": "bowed.jpg", "mimeType": "image/jpeg", "buffer": photo(NO_FACE_PHOTO).read_bytes()}
    with browser_page(face_url) as (page, errors):
        page.set_input_files("#file", files=[two])
        boxes = page.locator(".face-box")
        expect(boxes).to_have_count(2, timeout=30_000)
        expect(page.locator("#status")).to_contain_text("2 faces found")
        answer = page.request.post(f"{face_url}/api/predict", multipart={"file": two}).json()
        assert page.locator(".face-label").all_text_contents() == [f["label"] for f in answer["faces"]]
        shown = page.locator("#preview").bounding_box()
        natural = page.locator("#preview").evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert shown is not None
        for box, face in zip(boxes.all(), answer["faces"], strict=True):
            drawn = box.bounding_box()
            assert drawn is not None
            x0, y0, x1, y1 = face["box"]
            scale = shown["width"] / natural[0]
            assert drawn["x"] == pytest.approx(shown["x"] + x0 * scale, abs=1.5)
            assert drawn["y"] == pytest.approx(shown["y"] + y0 * scale, abs=1.5)
            assert drawn["width"] == pytest.approx((x1 - x0) * scale, abs=1.5)
            assert drawn["height"] == pytest.approx((y1 - y0) * scale, abs=1.5)
        page.check("#explain")  # the largest face's heatmap, over the square the model saw
        heatmap = page.locator("#heatmap")
        expect(heatmap).to_be_visible(timeout=30_000)
        answer = page.request.post(f"{face_url}/api/predict?explain=1", multipart={"file": two}).json()
        x0, y0, x1, y1 = answer["explain"]["box"]
        drawn = heatmap.bounding_box()
        assert drawn is not None
        assert drawn["x"] == pytest.approx(shown["x"] + x0 * scale, abs=1.5)
        assert drawn["width"] == pytest.approx((x1 - x0) * scale, abs=1.5)
        page.screenshot(path=str(FACES_SCREENSHOT), full_page=True)
        page.uncheck("#explain")

        page.set_input_files("#file", files=[none])
        expect(page.locator("#status")).to_contain_text("No face found", timeout=30_000)
        expect(boxes).to_have_count(0)
        assert errors == []


def test_toggle_lays_the_heatmap_over_the_preview(
    base_url: str, classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    from playwright.sync_api import expect

    with browser_page(base_url) as (page, errors):
        upload = {
            "name": "wide.png",
            "mimeType": "image/png",
            "buffer": make_image("PNG", (300, 180), seed=4),
        }
        page.set_input_files("#file", files=[upload])
        expect(page.locator("#label")).to_have_text(label_pattern(classifier), timeout=30_000)
        heatmap, preview = page.locator("#heatmap"), page.locator("#preview")
        explained = page.locator("#explained")
        expect(heatmap).to_be_hidden()

        page.check("#explain")  # the image was sent without a heatmap: it is sent again, with one
        expect(heatmap).to_be_visible(timeout=30_000)
        assert heatmap.get_attribute("src").startswith("data:image/png;base64,")
        expect(explained).to_contain_text(page.locator("#label").text_content())
        assert heatmap.bounding_box() == preview.bounding_box()  # over the preview, at its aspect ratio
        box = preview.bounding_box()
        assert box is not None and box["width"] / box["height"] == pytest.approx(300 / 180, rel=0.02)
        page.screenshot(path=str(SCREENSHOT_HEATMAP), full_page=True)

        page.uncheck("#explain")
        expect(heatmap).to_be_hidden()
        expect(explained).to_be_hidden()
        page.check("#explain")  # shown again from the answer already there
        expect(heatmap).to_be_visible()
        assert errors == []  # the data: image passed the page's Content-Security-Policy


def test_a_minimum_confidence_answers_uncertain_and_keeps_the_bars(
    base_url: str, classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    from playwright.sync_api import expect

    upload = {"name": "face.png", "mimeType": "image/png", "buffer": make_image("PNG", (64, 64), seed=5)}
    with browser_page(base_url) as (page, errors):
        page.set_input_files("#file", files=[upload])
        expect(page.locator("#label")).to_have_text(label_pattern(classifier), timeout=30_000)
        bars = page.locator(".bar .value").all_text_contents()
        page.fill("#min-confidence", "100")
        page.dispatch_event("#min-confidence", "change")  # the image is answered again
        expect(page.locator("#label")).to_have_text("uncertain", timeout=30_000)
        assert page.locator(".bar .value").all_text_contents() == bars
        page.fill("#min-confidence", "0")
        page.dispatch_event("#min-confidence", "change")
        expect(page.locator("#label")).to_have_text(label_pattern(classifier), timeout=30_000)
        assert errors == []
