"""The reader sees the story, not the bookkeeping (CONTRIBUTING.md): checked in every chapter."""

import json
import re

import pytest

from tests.toc_notebooks import toc_notebooks

NOTEBOOKS = toc_notebooks()
GLUE_CALL = re.compile(r"^\s*glue\(", re.MULTILINE)
NBVAL_COMMENT = re.compile(r"^\s*#\s*NBVAL_", re.MULTILINE)


def code_cells(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_collapsed(path):
    _, setup = code_cells(path)[0]
    assert "hide-input" in tags(setup), f"{path.name}: tag the setup cell `hide-input`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_glue_calls_are_in_cells_whose_input_is_removed(path):
    shown = [
        i
        for i, cell in code_cells(path)
        if GLUE_CALL.search("".join(cell["source"])) and "remove-input" not in tags(cell)
    ]
    assert not shown, f"{path.name}: cells {shown} show glue(...): move it to a remove-input cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_are_tags_not_comments(path):
    # nbval reads the tag `nbval-ignore-output` as it reads the comment, and a tag is not shown.
    marked = [i for i, cell in code_cells(path) if NBVAL_COMMENT.search("".join(cell["source"]))]
    assert not marked, f"{path.name}: cells {marked}: use the tag nbval-ignore-output instead"
