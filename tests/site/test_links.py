"""Every internal link of the built site resolves, down to its #anchor, checked offline.

Links to other hosts are not followed (the checks run without a network); everything that
points inside _build/html must name a file that exists and, with a fragment, an id in it.
"""

from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.site.conftest import SITE

# Files that are data for the site's scripts, not pages a reader follows links in.
NOT_PAGES = ("_static", "_sources")


class LinksAndIds(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(name):
                self.ids.add(attrs[name])
        target = attrs.get("href") if tag in ("a", "link") else attrs.get("src")
        if target and tag in ("a", "link", "img", "script", "iframe", "source"):
            self.links.append(target)


@cache
def parsed(path: Path) -> LinksAndIds:
    parser = LinksAndIds()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(page: Path, site: Path) -> list[str]:
    """The links of `page` that point inside `site` at a missing file or a missing anchor."""
    broken = []
    for link in parsed(page).links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(site.resolve()) or not target.exists():
            broken.append(f"{link}: no such file")
        elif parts.fragment and target.suffix == ".html":
            if unquote(parts.fragment) not in parsed(target).ids:
                broken.append(f"{link}: no anchor #{parts.fragment}")
    return broken


def site_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.relative_to(site).parts[0] not in NOT_PAGES)


@pytest.fixture(scope="module")
def pages():
    if not (SITE / "index.html").exists():
        pytest.fail("no site in _build/html: run `make book` (or `make test`) first")
    return site_pages(SITE)


def test_every_internal_link_and_anchor_resolves(pages):
    broken = {str(p.relative_to(SITE)): b for p in pages if (b := broken_links(p, SITE))}
    assert not broken, f"broken links: {broken}"


def test_link_check_finds_a_missing_page_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text(
        '<h1 id="top">A</h1><a href="b.html#here">ok</a><a href="b.html#gone">anchor</a>'
        '<a href="c.html">page</a><a href="#top">self</a><a href="https://x.org/y">out</a>'
    )
    (tmp_path / "b.html").write_text('<p id="here">B</p>')
    assert broken_links(tmp_path / "a.html", tmp_path) == [
        "b.html#gone: no anchor #gone",
        "c.html: no such file",
    ]
