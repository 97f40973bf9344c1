# Two entry points for a fresh clone: `make demo` and `make test` (see README.md).
# Everything installs into .venv with constraints.txt, which pins the CPU torch wheel and the tested set.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --constraint constraints.txt

.PHONY: demo test docs lint format constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) --editable .
	touch $@

$(VENV)/.installed-%: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) --editable ".[$*]"
	touch $@

demo: $(VENV)/.installed  ## install, then fit -> predict -> evaluate -> figure on the toy data
	$(BIN)/python examples/demo.py --out demo_output

test: $(VENV)/.installed-test  ## install the test environment and run the suite
	$(BIN)/python -m pytest

# The executed tutorials train on the CPU with one thread. The her2st tutorial reads the her2st files from
# ../shared/data/her2st when that folder exists (the dataset cache layout: $(HYPERST_DATA_DIR)/her2st/<section>/...,
# so HYPERST_DATA_DIR is its parent); without it HYPERST_DATA_DIR stays unset and docs/conf.py skips executing that
# notebook (its page then shows the code without outputs), so the target works on any clone. Set HYPERST_DATA_DIR
# yourself to use another cache.
SHARED_DATA := $(abspath ../shared/data)
HYPERST_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/her2st/C2/he.jpg),$(SHARED_DATA))

docs: $(VENV)/.installed-doc  ## build the documentation and run the tutorials, warnings are errors
	$(if $(HYPERST_DATA_DIR),HYPERST_DATA_DIR=$(HYPERST_DATA_DIR)) OMP_NUM_THREADS=1 \
		$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# Besides ruff: the GitHub workflows, issue forms, dependabot, Read the Docs and CITATION.cff files against their
# schemas (bundled with check-jsonschema: no network), and zizmor's security audit of the workflows (offline; its
# online audits need a GitHub token). None of the workflows can run here, so this is where they are checked.
SCHEMA := $(BIN)/check-jsonschema --builtin-schema

lint: $(VENV)/.installed-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(SCHEMA) vendor.github-workflows .github/workflows/*.yaml
	$(SCHEMA) vendor.github-issue-forms $(filter-out %/config.yml,$(wildcard .github/ISSUE_TEMPLATE/*.yml))
	$(SCHEMA) vendor.github-issue-config .github/ISSUE_TEMPLATE/config.yml
	$(SCHEMA) vendor.dependabot .github/dependabot.yml
	$(SCHEMA) vendor.readthedocs .readthedocs.yaml
	$(SCHEMA) vendor.citation-file-format CITATION.cff
	$(BIN)/zizmor --offline .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

constraints:  ## re-resolve constraints.txt after changing dependencies (needs torch==2.13.0 available)
	rm -rf .venv-resolve && $(PYTHON) -m venv .venv-resolve
	.venv-resolve/bin/python -m pip install --quiet "torch==2.13.0" --editable ".[test,doc,lint]"
	( head -n 2 constraints.txt; .venv-resolve/bin/python -m pip freeze --exclude-editable ) > constraints.new
	mv constraints.new constraints.txt && rm -rf .venv-resolve

clean:
	rm -rf $(VENV) docs/_build demo_output
