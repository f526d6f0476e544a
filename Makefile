PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test docs bench bench-peers lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,docs]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m namedax.demo

test: $(STAMP)
	XLA_FLAGS=--xla_force_host_platform_device_count=8 $(BIN)/python -m pytest -q -n 2

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 XLA_FLAGS=--xla_force_host_platform_device_count=8 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check namedax tests benchmarks examples docs
	$(BIN)/ruff format --check namedax tests benchmarks examples
	$(BIN)/pyright

clean:
	rm -rf $(VENV) .venv-peers site

# The same benchmarks with the peer libraries (Haliax, Penzai) installed beside namedax.
bench-peers: pyproject.toml
	test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install --quiet -e ".[dev]" haliax penzai
	.venv-peers/bin/python -m benchmarks
