"""The browser checks themselves: each passes on a page that keeps its rule and fails on one
that breaks it, so a green site run means something."""

import base64

import pytest

from tests.site.browser_checks import (
    PageReport,
    alt_text_problem,
    bookkeeping_problems,
    console_problems,
    figure_problems,
    image_problems,
    inspect_page,
    listen,
    math_problems,
    scroll_problems,
)
from tests.site.conftest import offline

FIXTURES = "http://127.0.0.1:9/"  # never contacted: the routes below answer for it
# A 1x1 PNG: an image that loads.
PIXEL = (
    "data:image/png;base64,"
    + base64.b64encode(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2bd"
            "e5a10000000049454e44ae426082"
        )
    ).decode()
)

GOOD = f"""<html><body><article class="bd-article">
<p>Inline math <span class="math"><mjx-container>x</mjx-container></span>, wrapped code
<code style="overflow-wrap:anywhere">a.very.long.qualified.name.of.something</code>.</p>
<img src="{PIXEL}" alt="A curve that rises steeply and then levels off">
<div class="cell_output"><img src="{PIXEL}" alt="A dot twice as sharp as it is drawn"
 style="width: 0.5px; height: 0.5px"></div>
<div class="cell_input"><details><pre>glue("ch1_x", 1, display=False)</pre></details></div>
</article></body></html>"""

BAD = f"""<html><head><script src="https://cdn.example.org/mathjax.js"></script></head>
<body><article class="bd-article">
<p>Raw math <span class="math">\\(x^2\\)</span> and stray \\(y\\) in prose.</p>
<p><code style="white-space:nowrap;display:inline-block;width:600px">long</code></p>
<img src="missing.png" alt="../_images/0a1b2c.png"><img src="missing2.png">
<div class="cell_output"><img src="{PIXEL}" alt="A dot drawn far larger than its pixels"
 style="width: 40px; height: 20px"></div>
<div class="cell_input"><pre># NBVAL_IGNORE_OUTPUT
glue("ch1_x", 1, display=False)</pre></div>
<script>console.error("something broke")</script>
</article></body></html>"""


@pytest.fixture(scope="module")
def fixture_reports(browser):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    refused = []
    offline(context, FIXTURES, refused)
    context.route(f"{FIXTURES}good.html", lambda r: r.fulfill(body=GOOD, content_type="text/html"))
    context.route(f"{FIXTURES}bad.html", lambda r: r.fulfill(body=BAD, content_type="text/html"))
    page = context.new_page()
    reports = {}
    current = {}
    listen(page, lambda: current["report"])
    for name in ("good", "bad"):
        refused.clear()
        current["report"] = PageReport(url=f"{FIXTURES}{name}.html", width=390)
        reports[name] = inspect_page(page, current["report"])
        reports[name].refused = list(refused)
    context.close()
    return reports


@pytest.mark.parametrize(
    "check",
    [
        console_problems,
        scroll_problems,
        math_problems,
        image_problems,
        figure_problems,
        bookkeeping_problems,
    ],
)
def test_check_passes_a_good_page_and_fails_a_bad_one(fixture_reports, check):
    assert check(fixture_reports["good"]) == []
    assert check(fixture_reports["bad"]) != []


def test_bad_page_problems_name_what_is_wrong(fixture_reports):
    bad = fixture_reports["bad"]
    assert any("something broke" in p for p in console_problems(bad))
    assert any("cdn.example.org" in p for p in console_problems(bad))
    assert "in a 390 px window" in scroll_problems(bad)[0]
    assert len(math_problems(bad)) == 2  # the unrendered span and the stray delimiters
    images = " ".join(image_problems(bad))
    assert "did not load" in images and "file name" in images and "no alt text" in images
    assert "NBVAL_IGNORE_OUTPUT" in bookkeeping_problems(bad)[0]
    figures = " ".join(figure_problems(bad))
    assert "fewer than 2" in figures and "out of proportion" in figures


@pytest.mark.parametrize(
    "alt", ["", "   ", None, "../_images/3f2a.png", "figure.png", "Figure 3", "plot", "chart"]
)
def test_alt_text_that_describes_nothing_is_refused(alt):
    assert alt_text_problem(alt)


@pytest.mark.parametrize("alt", ["Colab logo", "Histogram of sigma after training, two panels"])
def test_alt_text_that_describes_the_image_is_accepted(alt):
    assert alt_text_problem(alt) == ""
