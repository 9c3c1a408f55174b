"""The built site in a real browser: Playwright for Python driving the system's Chromium, offline.

Chromium comes from Debian's packages (`apt-get install chromium`; .ci/run installs it), never
from `playwright install`. The site is served from _build/html on a loopback port, as GitHub
Pages would serve it, and every request to any other host is refused: a page that needs the
network fails its checks.
"""

import functools
import http.server
import os
import shutil
import threading

import pytest

from tests.toc_notebooks import ROOT

SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
# Debian's /usr/bin/chromium is a shell wrapper; Playwright needs the browser binary itself.
# GitHub's Ubuntu runners come with Google Chrome instead (.ci/run then installs nothing).
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
)


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
        if path:
            return path
    return None


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the signature is http.server's)
        pass


@pytest.fixture(scope="session")
def site_url():
    """The built site on http://127.0.0.1:<free port>/, for the whole test session."""
    if not (SITE / "index.html").exists():
        pytest.fail("no site in _build/html: run `make book` (or `make test`) first")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, pointed at the system's Chromium."""
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs the Debian package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": chromium,
        # No background traffic (updates, safe browsing) on an offline machine.
        "args": ["--disable-background-networking", "--disable-component-update"],
    }


def offline(context, site_url: str, refused: list[str]) -> None:
    """Serve only the site's own address; refuse, and remember, every other request."""

    def route(route):
        url = route.request.url
        if url.startswith(site_url) or url.startswith("data:"):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", route)
