"""MathJax served by the site itself, so math renders with no network.

The pinned PyPI package sphinx-mathjax-offline ships MathJax 3.2.2; its own Sphinx extension
copies all of it (24 MB, mostly combined bundles the book does not load) into _static. This
copies what the book's pages use: the ``tex-chtml`` bundle and what it loads on demand (TeX
extensions, fonts and the SVG renderer the menu offers, the menu, the accessibility tools and
their speech-rule engine), about 10 MB.
"""

from importlib.util import find_spec
from pathlib import Path

from sphinx.util.fileutil import copy_asset

BUNDLE = "tex-chtml.js"
LOADED_ON_DEMAND = ("input", "output", "ui", "a11y", "sre", "adaptors")


def mathjax_source() -> Path:
    return Path(find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"


def use_local_mathjax(app, config):
    config.mathjax_path = f"mathjax/{BUNDLE}"


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    copy_asset(str(source / BUNDLE), str(target))
    for folder in LOADED_ON_DEMAND:
        copy_asset(str(source / folder), str(target / folder))


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
