"""Build vega/template.html: DVC's plots page with Vega, Vega-Lite and vega-embed inlined.

DVC's default page (dvc-render's `PAGE_HTML`) loads the three libraries from a CDN, so offline the
curves and the confusion matrix of `dvc plots show|diff` are blank. `.dvc/config` points
`plots.html_template` at the page this script writes: the same page, the libraries inside it.

The versions are the ones dvc-render's `VegaRenderer.SCRIPTS` loads (read here, never written down),
fetched with `npm pack` from the npm registry; the file is the one the CDN serves for each (the
package's `jsdelivr` entry). The template is committed, so a fresh clone renders offline without
Node; run this by hand (needs npm and the registry) after a DVC upgrade changes those versions:

    python vega/build.py
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

from dvc_render.html import HTML, PAGE_HTML
from dvc_render.vega import VegaRenderer

TEMPLATE = Path(__file__).with_name("template.html")
CDN_URL = re.compile(r'src="https://cdn\.jsdelivr\.net/npm/(?P<name>[\w-]+)@(?P<version>[\w.-]+)"')
PLACEHOLDERS = tuple(
    "{" + name + "}" for name in (HTML.SCRIPTS_PLACEHOLDER, HTML.PLOTS_PLACEHOLDER, HTML.REFRESH_PLACEHOLDER)
)


def libraries() -> list[tuple[str, str]]:
    """(package, version) of each script dvc-render loads from the CDN, in its order."""
    return [(m["name"], m["version"]) for m in CDN_URL.finditer(VegaRenderer.SCRIPTS)]


def fetch(name: str, version: str, folder: Path) -> tuple[str, str]:
    """The package's browser build (the file the CDN serves) and its licence, from `npm pack`."""
    command = ["npm", "pack", "--silent", f"{name}@{version}"]
    packed = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True).stdout.strip()
    with tarfile.open(folder / packed) as archive:
        manifest = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
        build = archive.extractfile(f"package/{manifest['jsdelivr']}").read().decode()  # type: ignore[union-attr]
        licence = archive.extractfile("package/LICENSE").read().decode()  # type: ignore[union-attr]
    # The source map is not carried: drop the comment that names it, so nothing refers outside the page.
    build = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", build)
    if "</script" in build or any(p in build for p in PLACEHOLDERS):
        raise SystemExit(f"error: {name}@{version} holds '</script' or a dvc-render placeholder")
    return build, f"{name} {version} ({manifest['license']}):\n{licence.strip()}"


def page(builds: list[str], notices: list[str]) -> str:
    """dvc-render's page with its `{scripts}` placeholder (the CDN tags) replaced by the libraries."""
    doctype, rest = PAGE_HTML.split("\n", 1)
    names = ", ".join(f"{name}@{version}" for name, version in libraries())
    header = (
        f"<!-- DVC's plots page with the libraries it loads from its CDN ({names}) inlined, so it\n"
        "renders offline. Built by vega/build.py; do not edit.\n\n"
        + "\n\n".join(notices).replace("--", "- -")
        + "\n-->"
    )
    scripts = "\n".join(f"<script>\n{build}</script>" for build in builds)
    return "\n".join((doctype, header, rest.replace("{" + HTML.SCRIPTS_PLACEHOLDER + "}", scripts)))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        fetched = [fetch(name, version, Path(folder)) for name, version in libraries()]
    TEMPLATE.write_text(page([b for b, _ in fetched], [n for _, n in fetched]), encoding="utf-8")
    print(f"{TEMPLATE}: {TEMPLATE.stat().st_size} bytes, {', '.join(f'{n}@{v}' for n, v in libraries())}")


if __name__ == "__main__":
    main()
