"""The upload page in a real headless Chromium, served by waitress as in production."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from emotion_pipeline.predict import Classifier
from emotion_pipeline.webapp import create_app, make_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/webapp.png")  # for a person to look at; not compared
SCREENSHOT_HEATMAP = Path("/tmp/webapp_heatmap.png")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"{CHROMIUM} not installed (Debian package `chromium`)"
)


@pytest.fixture(scope="module")
def base_url(classifier: Classifier) -> Iterator[str]:
    """The app on a free loopback port, served by waitress in a background thread."""
    server = make_server(create_app(classifier), "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


@pytest.fixture
def browser_page(base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A Chromium page on the app, and the script exceptions and console errors (CSP violations
    among them) it has logged so far."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            opened = browser.new_page(viewport={"width": 900, "height": 900})
            errors: list[str] = []
            opened.on("pageerror", lambda error: errors.append(str(error)))
            opened.on("console", lambda message: message.type == "error" and errors.append(message.text))
            opened.goto(base_url)
            yield opened, errors
        finally:
            browser.close()


def label_pattern(classifier: Classifier) -> re.Pattern[str]:
    return re.compile(f"^({'|'.join(map(re.escape, classifier.classes))})$")


def test_upload_shows_the_apis_prediction(
    browser_page: tuple[Page, list[str]],
    base_url: str,
    classifier: Classifier,
    make_image: Callable[..., bytes],
) -> None:
    from playwright.sync_api import expect

    page, errors = browser_page
    image = make_image("PNG", (224, 224), seed=3)
    upload = {"name": "face.png", "mimeType": "image/png", "buffer": image}
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

    page.set_input_files("#file", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"hi"}])
    expect(page.locator("#error")).to_have_text(re.compile("not an image"))
    expect(page.locator("#label")).not_to_have_text(answer["label"])


def test_toggle_lays_the_heatmap_over_the_preview(
    browser_page: tuple[Page, list[str]], classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    from playwright.sync_api import expect

    page, errors = browser_page
    upload = {"name": "wide.png", "mimeType": "image/png", "buffer": make_image("PNG", (300, 180), seed=4)}
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
