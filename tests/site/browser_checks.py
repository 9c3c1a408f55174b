"""What a reader's browser sees on one page, and what is wrong with it.

`inspect_page` loads a page once and measures everything the checks need; the `*_problems`
functions turn one measurement into a list of readable problems (empty when the page is fine).
tests/site/test_browser.py runs them over every page of the book; test_browser_checks.py runs
them over small pages made to break each rule, so each check is seen to fail.
"""

import re
from dataclasses import dataclass, field

# Measured in the page once its scripts ran and MathJax finished typesetting.
MEASURE_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const article = document.querySelector("article.bd-article") || document.body;
  const unrendered = [...article.querySelectorAll(".math")]
    .filter((m) => !m.querySelector("mjx-container"))
    .map((m) => m.textContent.trim().slice(0, 80));
  // TeX delimiters left in the prose: outside code, outside MathJax's own output.
  const skip = "pre, code, script, style, .highlight, mjx-container, .math";
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const rawTex = [];
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent;
    if (/\\\(|\\\[|\$\$|\\begin\{|\\frac\{/.test(text)) {
      rawTex.push(text.trim().slice(0, 80));
    }
  }
  const decoded = (img) =>
    Promise.race([img.decode().catch(() => null), new Promise((r) => setTimeout(r, 3000))]);
  await Promise.all([...document.images].map(decoded));
  const images = [...document.images].map((img) => ({
    src: (img.getAttribute("src") || "").slice(0, 80),
    alt: img.getAttribute("alt"),
    loaded: img.complete && img.naturalWidth > 0,
    decorative:
      img.getAttribute("aria-hidden") === "true" || img.getAttribute("role") === "presentation",
  }));
  // Bookkeeping a reader should not see: glue calls and nbval markers in shown code.
  const bookkeeping = [...article.querySelectorAll(".cell_input pre")]
    .filter((pre) => pre.checkVisibility() && /\bglue\(|NBVAL_/.test(pre.textContent))
    .map((pre) => pre.textContent.trim().split("\n")[0].slice(0, 60));
  // Notebook figures: drawn size against the pixels the image carries.
  const figures = [...article.querySelectorAll(".cell_output img")].map((img) => ({
    src: (img.getAttribute("src") || "").slice(0, 60),
    shown: [img.getBoundingClientRect().width, img.getBoundingClientRect().height],
    pixels: [img.naturalWidth, img.naturalHeight],
  }));
  return {
    figures,
    bookkeeping,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    unrendered: unrendered.concat(rawTex),
    images,
  };
}
"""

IMAGE_FILE = re.compile(r"\.(png|jpe?g|gif|svg|webp)\b|/|_images|^data:", re.IGNORECASE)
# Alt text that names the kind of thing and nothing else ("Figure 3", "plot", "image 2").
GENERIC_ALT = re.compile(
    r"^(figure|fig\.?|image|img|picture|plot|chart|graph|output)[\s\d.:-]*$", re.I
)


@dataclass
class PageReport:
    """Everything measured on one page at one width."""

    url: str
    width: int
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    scroll_width: int = 0
    client_width: int = 0
    unrendered: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    drawers: dict[str, str] = field(default_factory=dict)
    bookkeeping: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)


def listen(page, report_of):
    """Record console errors and uncaught exceptions into the report `report_of()` returns."""

    def on_console(message):
        if message.type == "error":
            report_of().errors.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: report_of().errors.append(f"uncaught: {error}"))


def inspect_page(page, report: PageReport, screenshot=None) -> PageReport:
    """Load `report.url` in `page` (already listening) and measure it into `report`."""
    page.goto(report.url, wait_until="load")
    measured = page.evaluate(MEASURE_JS)
    report.scroll_width = measured["scrollWidth"]
    report.client_width = measured["clientWidth"]
    report.unrendered = measured["unrendered"]
    report.images = measured["images"]
    report.bookkeeping = measured["bookkeeping"]
    report.figures = measured["figures"]
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    return report


def open_drawer(page, toggle: str, dialog: str) -> str:
    """Click the visible `toggle` button; return "" if `dialog` opened on screen, else why not."""
    buttons = page.locator(f"{toggle}:visible")
    if buttons.count() == 0:
        return "no visible button"
    buttons.first.click()
    try:
        page.wait_for_function(
            f"document.querySelector('{dialog}') && document.querySelector('{dialog}').open",
            timeout=3000,
        )
    except Exception:
        return "the button did nothing: the drawer did not open"
    page.wait_for_timeout(300)  # the slide-in transition
    box = page.locator(dialog).bounding_box()
    links = page.locator(f"{dialog} a:visible").count()
    page.keyboard.press("Escape")
    if box is None or box["width"] < 150 or box["x"] < -1:
        return f"the drawer opened off screen or too narrow: {box}"
    if links == 0:
        return "the drawer opened but shows no links"
    return ""


def console_problems(report: PageReport) -> list[str]:
    return report.errors + [f"requested from the network: {url}" for url in report.refused]


def scroll_problems(report: PageReport) -> list[str]:
    if report.scroll_width > report.client_width + 1:
        return [
            f"the page scrolls sideways: {report.scroll_width} px of content "
            f"in a {report.client_width} px window"
        ]
    return []


def math_problems(report: PageReport) -> list[str]:
    return [f"raw TeX in the article: {text!r}" for text in report.unrendered]


def figure_problems(report: PageReport) -> list[str]:
    """Figures drawn with fewer than 2 image pixels per CSS pixel (blurry on a high-resolution
    screen), or squeezed out of their proportions."""
    problems = []
    for figure in report.figures:
        (width, height), (pixels_x, pixels_y) = figure["shown"], figure["pixels"]
        if not width or not pixels_x:
            continue  # not drawn: image_problems reports it
        if pixels_x < 2 * width - 1:
            problems.append(
                f"{figure['src']}: {pixels_x} px wide image drawn {width:.0f} px wide "
                f"({pixels_x / width:.2f} image pixels per screen pixel, fewer than 2)"
            )
        if abs((width / height) / (pixels_x / pixels_y) - 1) > 0.02:
            problems.append(f"{figure['src']}: drawn {width:.0f}x{height:.0f}, out of proportion")
    return problems


def bookkeeping_problems(report: PageReport) -> list[str]:
    return [f"bookkeeping shown as code: {first_line!r}" for first_line in report.bookkeeping]


def alt_text_problem(alt) -> str:
    """Why `alt` does not describe an image to someone who cannot see it ("" if it does)."""
    if alt is None or not alt.strip():
        return "no alt text"
    if IMAGE_FILE.search(alt):
        return f"alt text is a file name, not a description: {alt[:60]!r}"
    if GENERIC_ALT.match(alt.strip()) or len(alt.split()) < 2:
        return f"alt text does not describe the image: {alt!r}"
    return ""


def image_problems(report: PageReport) -> list[str]:
    problems = []
    for image in report.images:
        if not image["loaded"]:
            problems.append(f"image did not load: {image['src']}")
        if not image["decorative"] and (why := alt_text_problem(image["alt"])):
            problems.append(f"{image['src']}: {why}")
    return problems
