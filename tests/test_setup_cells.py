"""Every chapter's setup cell installs bnnlib from the repository in _config.yml (`make sync`)."""

import json

import pytest

from tests.sync_setup_cells import (
    FIRST_LINE,
    install_block,
    repository,
    setup_cell,
    synced_source,
)
from tests.toc_notebooks import toc_notebooks


@pytest.mark.parametrize("path", toc_notebooks(), ids=lambda p: p.name)
def test_setup_cell_starts_with_the_install_block_for_the_configured_repository(path):
    source = "".join(setup_cell(json.loads(path.read_text(encoding="utf-8")))["source"])
    block = "\n".join(install_block(*repository()))
    assert source.startswith(block + "\n"), (
        f"{path.name}: the setup cell does not start with the install block for "
        f"{repository()[0]}: run `make sync`"
    )


def test_install_block_names_the_repository_and_branch():
    block = "\n".join(install_block("https://github.com/someone/book", "stable"))
    assert 'REPOSITORY = "https://github.com/someone/book"' in block
    assert '%pip install --quiet "bnnlib @ git+{REPOSITORY}@stable" myst-nb==' in block


def test_install_block_lines_fit_the_notebook_line_length():
    long_url = "https://github.com/a-long-organisation-name/watching-weights-learn"
    assert max(len(line) for line in install_block(long_url, "main")) <= 79


def test_sync_replaces_an_old_block_and_keeps_the_rest_of_the_cell():
    old = "\n".join(install_block("https://github.com/old/place", "main"))
    cell = old + "\n\nimport os\n\nimport bnnlib"
    new_block = install_block("https://github.com/new/place", "main")
    synced = synced_source(cell, new_block)
    assert synced == "\n".join(new_block) + "\n\nimport os\n\nimport bnnlib"
    assert synced_source(synced, new_block) == synced  # a second run changes nothing
    assert synced_source("import os", new_block).startswith(FIRST_LINE)


def test_deploy_check_refuses_the_placeholder_and_a_foreign_repository():
    from tests.check_repository_url import PLACEHOLDER, problems

    assert problems(PLACEHOLDER, None)
    assert problems("https://github.com/me/book", "someone-else/book")
    assert problems("https://github.com/me/book", "me/book") == []
    assert problems("https://github.com/me/book", None) == []
