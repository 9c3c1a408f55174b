"""Write the install block at the top of every chapter's setup cell (`make sync`).

A chapter opened from the site's Colab or Binder button starts in a fresh kernel without the
book's library. The block installs ``bnnlib`` from the repository named in ``_config.yml``
(``repository.url`` and ``repository.branch``, the one place the address is set), plus myst-nb
for ``glue``, only when ``bnnlib`` cannot be imported; in the book's own environment it does
nothing. Run ``make sync`` after changing the repository address or adding a chapter;
tests/test_setup_cells.py fails while any chapter's block is missing or out of date.
"""

import json
import sys
from pathlib import Path

import yaml

from tests.strip_notebooks import write_notebook
from tests.toc_notebooks import ROOT, toc_notebooks

# The block's first line: how the script finds a block it wrote before, to replace it.
FIRST_LINE = "# Colab and Binder start without the book's library: install it if missing."
# myst-nb as jupyter-book 1.0.4.post1 installs it: the chapters import `glue` from it.
MYST_NB = "myst-nb==1.4.0"
LINE_LENGTH = 79  # book/ruff.toml


def repository() -> tuple[str, str]:
    """The repository's URL and branch, from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/"), config["repository"].get("branch", "main")


def install_block(url: str, branch: str) -> list[str]:
    """The block's lines (without newlines), formatted as `ruff format` leaves them."""
    assignment = f'REPOSITORY = "{url}"'
    if len(assignment) > LINE_LENGTH:
        assignment = f'REPOSITORY = (\n    "{url}"\n)'
    return [
        FIRST_LINE,
        "import importlib.util",
        "",
        *assignment.split("\n"),
        'if importlib.util.find_spec("bnnlib") is None:',
        f'    %pip install --quiet "bnnlib @ git+{{REPOSITORY}}@{branch}" {MYST_NB}',
    ]


def setup_cell(notebook: dict) -> dict:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            return cell
    raise ValueError("the notebook has no code cell, so no setup cell")


def without_block(lines: list[str]) -> list[str]:
    """The setup cell's lines with a previously written block (and the blank after it) removed."""
    if not lines or lines[0] != FIRST_LINE:
        return lines
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("%pip install"))
    rest = lines[end + 1 :]
    while rest and not rest[0].strip():
        rest = rest[1:]
    return rest


def synced_source(source: str, block: list[str]) -> str:
    return "\n".join(block + [""] + without_block(source.split("\n")))


def sync(path: Path, block: list[str]) -> bool:
    """Write `block` at the top of the setup cell of the notebook at `path`; True if it changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = setup_cell(notebook)
    source = "".join(cell["source"])
    new = synced_source(source, block)
    if new == source:
        return False
    cell["source"] = new.splitlines(keepends=True)
    write_notebook(path, notebook)
    return True


if __name__ == "__main__":
    block = install_block(*repository())
    paths = [Path(p) for p in sys.argv[1:]] or toc_notebooks()
    for path in paths:
        if sync(path, block):
            print(f"updated the install block in {path}")
