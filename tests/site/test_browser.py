"""The built pages in a real browser: headless Chromium, offline, no kernel.

The epoch slider of Chapter 4 is JavaScript that must draw its first frame with nothing but
the static page. Chromium comes from the system's packages (.ci/run installs it on CI).
"""

import os
import re
import shutil
import subprocess

import pytest

from tests.site.test_site import SITE
from tests.toc_notebooks import ROOT, toc_files

CHROMIUM = next(
    (
        path
        for name in ("chromium", "chromium-browser", "google-chrome")
        if (path := shutil.which(name))
    ),
    None,
)
# Flags for a sandboxed, offline machine: no GPU, no background network traffic.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs the Debian package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def rendered_dom(chromium, page, tmp_path) -> str:
    """The page's DOM after its scripts ran, as Chromium serialises it."""
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def pages_with_sliders():
    pages = []
    for docname in toc_files():
        if (ROOT / f"{docname}.ipynb").exists():
            page = SITE / f"{docname}.html"
            if page.exists() and "_anim_img" in page.read_text(encoding="utf-8"):
                pages.append(docname)
    return pages


def test_chapter_4_has_an_epoch_slider():
    assert "book/04_training_side_by_side" in pages_with_sliders()


@pytest.mark.parametrize("docname", pages_with_sliders())
def test_epoch_slider_draws_its_first_frame_offline(chromium, docname, tmp_path):
    dom = rendered_dom(chromium, SITE / f"{docname}.html", tmp_path)
    image = re.search(r'<img id="_anim_img\w+"([^>]*)>', dom)
    assert image, "the slider's image element is missing from the rendered page"
    assert 'src="data:image/png;base64,' in image.group(1), "no frame was drawn"
    slider = re.search(r'<input[^>]*id="_anim_slider\w+"[^>]*>', dom)
    assert slider, "the slider's range input is missing"
    frames = int(re.search(r'max="(\d+)"', slider.group(0)).group(1)) + 1
    assert frames >= 2, "a slider with one frame shows no evolution"
