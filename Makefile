# Two commands matter: `make book` builds the site, `make test` checks everything.
# Both create .venv on first use and reinstall only when requirements.txt or pyproject.toml change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Chapters listed in _toc.yml, in reading order.
NOTEBOOKS = $(shell $(BIN)/python tests/toc_notebooks.py)
PORT ?= 8000

# TensorFlow's C++ logging carries timestamps; keep it out of notebook outputs.
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup book test execute sync lint format lab serve bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# jsonschema (through nbformat, on a chapter's first glue call) imports rfc3987-syntax
	@# whenever it is installed, and that import compiles its grammars: about 1.8 s of every
	@# chapter's run. It only checks IRI formats, which nothing here validates.
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	@# TensorFlow's C++ start-up log carries timestamps: keep it in the terminal, out of notebooks.
	mkdir -p $(VENV)/etc/ipython
	echo 'c.IPKernelApp.capture_fd_output = False' > $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $(STAMP)

## book: execute every chapter and build the site into _build/html (fails on any warning)
book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "Open _build/html/index.html, or run 'make serve'."

## test: lint, unit tests, notebooks (nbval, strict), and a warnings-as-errors site build
test: lint
	$(BIN)/pytest tests --ignore=tests/site
	$(BIN)/pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		-p no:cacheprovider $(NOTEBOOKS)
	# nbval has just executed every notebook and matched its committed outputs, so the site
	# is built from those outputs rather than executing each chapter a second time.
	sed 's/execute_notebooks: force/execute_notebooks: "off"/' _config.yml > _config.test.yml
	$(BIN)/jupyter-book build . --config _config.test.yml --warningiserror --keep-going
	rm -f _config.test.yml
	# The built pages in the system's Chromium (Playwright), offline; screenshots in _build/screenshots.
	$(BIN)/pytest tests/site

## execute: run chapters in place in a fresh kernel (NB=book/04_....ipynb for one; default all)
execute: $(STAMP)
	cd book && $(abspath $(BIN))/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 $(notdir $(or $(NB),$(NOTEBOOKS)))
	$(BIN)/python tests/strip_notebooks.py $(or $(NB),$(NOTEBOOKS))

## sync: write the install block (repository.url in _config.yml) into every chapter's setup cell
sync: $(STAMP)
	$(BIN)/python -m tests.sync_setup_cells $(NB)

## lint: ruff (code and notebooks) and actionlint (workflows)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint .github/workflows/*.yml

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## lab: open the notebooks in JupyterLab
lab: $(STAMP)
	$(BIN)/jupyter lab book/

## serve: the built site on http://localhost:$(PORT)
serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

## bench: performance scripts (ratio tables)
bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build _config.test.yml .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
