"""Refuse to deploy while _config.yml still names the placeholder repository.

The repository URL in _config.yml (`repository.url`) is the one place the address is set: the
launch buttons, the setup cells' install line (`make sync`) and Binder all use it. Run by the
deploy workflow before it builds the site; `make test` does not run it, so a fork or a fresh
clone tests without first choosing an address. On GitHub Actions it also checks the URL names
the repository being deployed (GITHUB_REPOSITORY).
"""

import os
import sys

from tests.sync_setup_cells import repository

PLACEHOLDER = "https://github.com/watching-weights-learn/watching-weights-learn"


def problems(url: str, github_repository: str | None) -> list[str]:
    found = []
    if url == PLACEHOLDER:
        found.append(f"repository.url in _config.yml is still the placeholder {PLACEHOLDER}")
    if github_repository and url != f"https://github.com/{github_repository}":
        found.append(f"repository.url is {url}, but this is github.com/{github_repository}")
    return found


if __name__ == "__main__":
    url, _ = repository()
    found = problems(url, os.environ.get("GITHUB_REPOSITORY"))
    for problem in found:
        print(f"error: {problem}: set it, run `make sync`, commit.", file=sys.stderr)
    sys.exit(1 if found else 0)
