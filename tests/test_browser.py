"""The upload page in a real headless Chromium, served by waitress as in production."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emotion_pipeline.predict import Classifier
from emotion_pipeline.webapp import create_app, make_server

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


def test_upload_shows_the_apis_prediction(
    base_url: str, classifier: Classifier, make_image: Callable[..., bytes]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    image = make_image("PNG", (224, 224), seed=3)
    upload = {"name": "face.png", "mimeType": "image/png", "buffer": image}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            errors: list[str] = []  # script exceptions and console errors, e.g. CSP violations
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.goto(base_url)
            page.set_input_files("#file", files=[upload])
            classes = "|".join(map(re.escape, classifier.classes))
            expect(page.locator("#label")).to_have_text(re.compile(f"^({classes})$"), timeout=30_000)
            expect(page.locator("#preview")).to_be_visible()

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
        finally:
            browser.close()
