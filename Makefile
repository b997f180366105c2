# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lab lint clean

# The environment is rebuilt when pyproject.toml changes. The kernel registered here is the one
# papermill runs reports with and the one `make lab` offers.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name ecom-insights --display-name "ecom-insights"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/ecom-insights demo

lint: install
	$(BIN)/ruff check ecom_insights tests bench

test: lint
	$(BIN)/nbdev-test --n-workers 2
	$(BIN)/python -m pytest

lab: install
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/jupyter lab nbs

clean:
	rm -rf $(VENV) outputs _docs _proc .pytest_cache .ruff_cache
