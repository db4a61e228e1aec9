"""`dvc plots diff` renders offline: the page template named by `.dvc/config` (vega/template.html)
carries the Vega libraries that DVC's default page loads from a CDN."""

from __future__ import annotations

from pathlib import Path

import pytest
from project import ROOT, copy_project, load_script, run
from test_browser import CHROMIUM, browser_page

BUILD = load_script(ROOT / "vega" / "build.py")
TINY = [
    *("-S", "data.dir=data/sample", "-S", "model.weights=none", "-S", "image_size=32"),
    *("-S", "augment.views=2", "-S", "epochs=3"),  # 3 epochs: the curves are lines, not single points
]
VEGA_PLOTS = ("loss", "accuracy", "macro_f1", "learning_rate", "confusion")  # dvc.yaml's data plots

# The share of a plot's canvas columns holding coloured pixels: data marks are drawn in colour, the
# frame, axes, grid and labels in grey. A line across the plot or the confusion heat map colours most
# columns; the legend's symbols alone, a few percent; nothing drawn, 0 (None: no canvas at all).
DRAWN_SHARE = """id => {
    const canvas = document.querySelector(`[id="${id}"] canvas`);
    if (!canvas) return null;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const columns = new Set();
    for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b, a] = pixels.slice(i, i + 4);
        if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) columns.add((i / 4) % canvas.width);
    }
    return columns.size / canvas.width;
}"""
RENDER_MS = 20_000  # vega-embed draws asynchronously; a few seconds on 2 busy cores


def test_template_carries_the_libraries_dvc_render_loads() -> None:
    """The committed template is built from the versions dvc-render's page loads, and loads nothing
    itself: after a DVC upgrade that changes them, this fails until `python vega/build.py` is rerun."""
    template = BUILD.TEMPLATE.read_text(encoding="utf-8")
    assert BUILD.libraries(), "dvc-render's VegaRenderer.SCRIPTS names no CDN script any more"
    for name, version in BUILD.libraries():
        assert f"{name}@{version}" in template.split("-->", 1)[0], f"rerun vega/build.py for {name}@{version}"
    assert "{plot_divs}" in template and "{scripts}" not in template
    assert "<script src=" not in template
    config = (ROOT / ".dvc" / "config").read_text()
    assert "html_template = ../vega/template.html" in config  # relative to .dvc/, as DVC reads it


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny experiment's `dvc plots diff` page as the project configures it, and with DVC's own page."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    run(project, "dvc", "exp", "run", "-n", "tiny", *TINY)
    default = project / "default.html"
    default.write_text(BUILD.PAGE_HTML, encoding="utf-8")
    run(project, "dvc", "plots", "diff", "tiny", "-o", "offline")  # the config's template
    run(project, "dvc", "plots", "diff", "tiny", "-o", "cdn", "--html-template", str(default))
    return {"offline": project / "offline/index.html", "cdn": project / "cdn/index.html"}


def drawn_shares(page_file: Path) -> tuple[dict[str, float | None], list[str]]:
    with browser_page(page_file.as_uri()) as (page, errors):
        page.wait_for_function(
            f"{list(VEGA_PLOTS)}.every(id => document.querySelector(`[id='${{id}}'] canvas`))"
            " || typeof vegaEmbed === 'undefined'",
            timeout=RENDER_MS,
        )
        page.wait_for_timeout(500)  # the canvas exists before its marks are painted
        return {plot: page.evaluate(DRAWN_SHARE, plot) for plot in VEGA_PLOTS}, errors


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} not installed (Debian package `chromium`)")
def test_plots_diff_draws_the_curves_offline(pages: dict[str, Path]) -> None:
    shares, errors = drawn_shares(pages["offline"])
    assert errors == []  # nothing blocked: the page asked for nothing off the machine
    assert all(share is not None and share > 0.5 for share in shares.values()), shares


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} not installed (Debian package `chromium`)")
def test_dvc_default_page_is_blank_offline(pages: dict[str, Path]) -> None:
    """The same check on DVC's own page finds nothing drawn: the template is what draws the curves."""
    shares, errors = drawn_shares(pages["cdn"])
    assert shares == dict.fromkeys(VEGA_PLOTS)
    assert any(error.startswith("blocked: https://cdn.jsdelivr.net/npm/vega@") for error in errors), errors
