"""Committed chapters are as `make execute` leaves them: one clean run, no volatile metadata."""

import json

import pytest

from tests.strip_notebooks import VOLATILE_CELL_KEYS
from tests.toc_notebooks import toc_notebooks


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_notebook_carries_no_volatile_metadata(path):
    volatile = [
        (index, key)
        for index, cell in enumerate(load(path)["cells"])
        for key in VOLATILE_CELL_KEYS
        if key in cell.get("metadata", {})
    ]
    assert not volatile, f"{path.name}: (cell, key) {volatile}: run `make execute NB={path}`"


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_notebook_was_executed_once_top_to_bottom(path):
    cells = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}: run `make execute NB={path}`"
    )
    for cell in cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "execute_result":
                assert output["execution_count"] == cell["execution_count"]
