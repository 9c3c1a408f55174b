"""Every page of the book in a real browser, offline, on a phone (390 px) and a desktop (1280 px).

One Chromium, one tab per width: each page is loaded once per width and measured
(browser_checks.inspect_page); each test below asserts one rule on those measurements.
Screenshots of every page at both widths land in _build/screenshots/ for people to look at.
"""

import pytest

from tests.site.browser_checks import (
    PageReport,
    bookkeeping_problems,
    console_problems,
    figure_problems,
    image_problems,
    inspect_page,
    listen,
    math_problems,
    open_drawer,
    scroll_problems,
)
from tests.site.conftest import SCREENSHOTS, SITE, offline
from tests.toc_notebooks import toc_files

PHONE, DESKTOP = 390, 1280
WIDTHS = (PHONE, DESKTOP)
PAGES = toc_files()
DRAWERS = {
    "navigation": ("button.primary-toggle", "#pst-primary-sidebar-modal"),
    "contents": ("button.secondary-toggle", "#pst-secondary-sidebar-modal"),
}


class Tabs:
    """One browser context and tab per width, reused for every page."""

    def __init__(self, browser, site_url):
        self.browser, self.site_url = browser, site_url
        self.tabs, self.reports, self.current = {}, {}, None

    def tab(self, width):
        if width not in self.tabs:
            context = self.browser.new_context(viewport={"width": width, "height": 800})
            refused = []
            offline(context, self.site_url, refused)
            page = context.new_page()
            listen(page, lambda: self.current)
            self.tabs[width] = (page, refused)
        return self.tabs[width]

    def report(self, docname, width) -> PageReport:
        key = (docname, width)
        if key not in self.reports:
            page, refused = self.tab(width)
            refused.clear()
            self.current = PageReport(url=f"{self.site_url}{docname}.html", width=width)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOTS / f"{docname.replace('/', '_')}-{width}.png"
            inspect_page(page, self.current, screenshot=shot)
            if width == PHONE:
                for name, (toggle, dialog) in DRAWERS.items():
                    self.current.drawers[name] = open_drawer(page, toggle, dialog)
            self.current.refused = list(refused)
            self.reports[key] = self.current
        return self.reports[key]


@pytest.fixture(scope="module")
def tabs(browser, site_url):
    return Tabs(browser, site_url)


def where(docname, width):
    return f"{docname} at {width} px"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_page_has_no_console_error_and_needs_no_network(tabs, docname, width):
    problems = console_problems(tabs.report(docname, width))
    assert not problems, f"{where(docname, width)}: " + "; ".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_page_does_not_scroll_sideways(tabs, docname, width):
    problems = scroll_problems(tabs.report(docname, width))
    assert not problems, f"{where(docname, width)}: " + "; ".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_page_math_is_rendered(tabs, docname, width):
    problems = math_problems(tabs.report(docname, width))
    assert not problems, f"{where(docname, width)}: " + "; ".join(problems[:5])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_page_images_load_and_have_alt_text(tabs, docname, width):
    problems = image_problems(tabs.report(docname, width))
    assert not problems, f"{where(docname, width)}: " + "; ".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("docname", PAGES)
def test_page_figures_are_sharp_and_in_proportion(tabs, docname, width):
    problems = figure_problems(tabs.report(docname, width))
    assert not problems, f"{where(docname, width)}: " + "; ".join(problems[:5])


@pytest.mark.parametrize("docname", PAGES)
def test_page_hides_bookkeeping_code(tabs, docname):
    problems = bookkeeping_problems(tabs.report(docname, DESKTOP))
    assert not problems, f"{where(docname, DESKTOP)}: " + "; ".join(problems[:5])


@pytest.mark.parametrize("docname", PAGES)
def test_phone_navigation_drawer_opens(tabs, docname):
    why = tabs.report(docname, PHONE).drawers["navigation"]
    assert not why, f"{where(docname, PHONE)}: navigation drawer: {why}"


def pages_with_contents():
    """Pages with sections, for which the theme writes a "Contents" list (and its button)."""
    return [d for d in PAGES if "onthispage" in (SITE / f"{d}.html").read_text(encoding="utf-8")]


@pytest.mark.parametrize("docname", pages_with_contents())
def test_phone_page_contents_open(tabs, docname):
    why = tabs.report(docname, PHONE).drawers["contents"]
    assert not why, f"{where(docname, PHONE)}: page contents: {why}"


def test_tablet_drawers_open(browser, site_url):
    context = browser.new_context(viewport={"width": 800, "height": 900})
    offline(context, site_url, [])
    page = context.new_page()
    page.goto(f"{site_url}{PAGES[1]}.html")
    for name, (toggle, dialog) in DRAWERS.items():
        assert not (why := open_drawer(page, toggle, dialog)), f"800 px, {name}: {why}"
    context.close()


def pages_with_sliders():
    return [d for d in PAGES if "_anim_img" in (SITE / f"{d}.html").read_text(encoding="utf-8")]


def test_chapter_4_has_an_epoch_slider():
    assert "book/04_training_side_by_side" in pages_with_sliders()


@pytest.mark.parametrize("docname", pages_with_sliders())
def test_epoch_slider_next_changes_the_frame_and_fits_a_phone(tabs, docname):
    tabs.report(docname, PHONE)  # measured once; now load it again to use the slider
    page, _ = tabs.tab(PHONE)
    page.goto(f"{tabs.site_url}{docname}.html")
    image = page.locator("img[id^='_anim_img']").first
    image.scroll_into_view_if_needed()
    first = image.get_attribute("src")
    assert first and first.startswith("data:image/png;base64,"), "no first frame was drawn"
    page.locator("button[title='Next frame']").first.click()
    page.wait_for_function(
        "([img, src]) => img.getAttribute('src') !== src", arg=[image.element_handle(), first]
    )
    fit = page.evaluate(
        """(img) => {
             const widget = img.closest('.animation') || img.parentElement;
             const area = widget.closest('.cell_output, .output') || widget.parentElement;
             return {widget: widget.getBoundingClientRect().right,
                     area: area.getBoundingClientRect().right,
                     overflow: area.scrollWidth - area.clientWidth};
           }""",
        image.element_handle(),
    )
    assert fit["widget"] <= fit["area"] + 1 and fit["overflow"] <= 1, (
        f"the slider does not fit a {PHONE} px screen: {fit}"
    )


def test_search_finds_flipout(tabs):
    page, _ = tabs.tab(DESKTOP)
    page.goto(f"{tabs.site_url}search.html?q=Flipout")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20000)
    assert results.count() >= 3, "searching for Flipout should find the chapters about it"
