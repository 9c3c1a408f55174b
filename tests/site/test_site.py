"""Checks of the built site (_build/html), run by `make test` right after the site build."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.toc_notebooks import ROOT, toc_files

SITE = ROOT / "_build" / "html"
MAX_PAGE_BYTES = 2 * 1024 * 1024


class PageParser(HTMLParser):
    """Collect what the checks need from one page: images, links and visible text."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.text = [], [], []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def page_for(docname: str) -> Path:
    return SITE / f"{docname}.html"


@pytest.fixture(scope="module", autouse=True)
def site_was_built():
    if not (SITE / "index.html").exists():
        pytest.fail("no site in _build/html: run `make book` (or `make test`) first")


def test_index_redirects_to_the_intro():
    assert "book/intro.html" in (SITE / "index.html").read_text()


@pytest.mark.parametrize("docname", toc_files())
def test_every_toc_entry_has_a_page_without_errors_or_unrendered_roles(docname):
    page = page_for(docname)
    assert page.exists(), f"{docname} listed in _toc.yml has no page"
    text = " ".join(parse(page).text)
    assert "Traceback (most recent call last)" not in text
    assert not re.search(r"\{glue(:\w+)?\}|\{cite\}", text), "a MyST role was not rendered"
    assert page.stat().st_size <= MAX_PAGE_BYTES


@pytest.mark.parametrize("docname", [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()])
def test_every_chapter_page_shows_its_figures_and_offers_the_notebook(docname):
    parser = parse(page_for(docname))
    figures = [src for src in parser.images if src.endswith(".png")]
    assert figures, f"{docname} shows no figure"
    for src in figures:
        assert (page_for(docname).parent / src).resolve().exists(), f"missing image {src}"
    notebook = SITE / "_sources" / f"{docname}.ipynb"
    assert notebook.exists(), "the download button needs the notebook among the sources"


def test_api_page_documents_the_library():
    text = " ".join(parse(page_for("book/api")).text)
    for name in ("set_seed", "toy_regression", "tfp_dense_flipout", "set_theme"):
        assert name in text


def cited_keys() -> set[str]:
    """Every key cited with {cite}`...` (or {cite:p}, {cite:t}) in the book's sources."""
    keys = set()
    for source in sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "book").glob("*.ipynb")):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", source.read_text(encoding="utf-8")):
            keys.update(key.strip() for key in group.split(","))
    return keys


def bibliography_entries() -> list[str]:
    html = page_for("book/bibliography").read_text(encoding="utf-8")
    return re.findall(r'role="doc-biblioentry">(.*?)</div>', html, re.DOTALL)


def test_bibliography_lists_exactly_the_cited_works():
    assert cited_keys(), "the book cites nothing"
    assert len(bibliography_entries()) == len(cited_keys())


def test_bibliography_links_one_free_copy_per_entry():
    for entry in bibliography_entries():
        assert entry.count('class="reference external"') == 1, entry


def test_bibliography_labels_entries_as_the_text_cites_them():
    # "Graves, 2011", "Kingma and Welling, 2014", "Wen et al., 2018": the in-text form.
    author_year = re.compile(r"^[A-Z][\w'-]+( et al\.| and [A-Z][\w'-]+)?, \d{4}$")
    for entry in bibliography_entries():
        label = re.search(r'fn-bracket">\[</span>(.*?)<span', entry).group(1)
        assert author_year.match(label), f"label {label!r} is not author-year"
