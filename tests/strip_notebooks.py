"""Strip the metadata that changes on every run from executed notebooks (used by `make execute`).

nbconvert writes per-cell execution timestamps into `cell.metadata.execution`; they change on
every run although the outputs do not. Removing them keeps a re-run with the same outputs a
clean diff. Run as `python tests/strip_notebooks.py book/*.ipynb`.
"""

import json
import sys
from pathlib import Path

# nbconvert's per-cell timestamps, and the ones some Jupyter extensions write.
VOLATILE_CELL_KEYS = ("execution", "ExecuteTime")


def write_notebook(path: Path, notebook: dict) -> None:
    """Write `notebook` in the layout nbformat writes: one-space indent, non-ASCII kept."""
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def strip(path: Path) -> bool:
    """Remove volatile metadata from the notebook at `path` in place; return whether it changed."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    for cell in notebook.get("cells", []):
        for key in VOLATILE_CELL_KEYS:
            cell.get("metadata", {}).pop(key, None)
    if json.dumps(notebook, indent=1, ensure_ascii=False) + "\n" != text:
        write_notebook(path, notebook)
        return True
    return False


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if strip(Path(name)):
            print(f"stripped volatile metadata from {name}")
