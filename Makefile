PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYPROJECT_SUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(PYPROJECT_SUM)
DEMO_STAMP := $(VENV)/.installed-demo-$(PYPROJECT_SUM)
# pytest arguments: `make test ARGS="-x tests/test_stacked.py -k explain"`
ARGS ?=
# MathJax for the docs site, unpacked from the npm registry's package (no CDN at view time).
MATHJAX_VERSION := 3.2.2
MATHJAX := docs/javascripts/vendor/mathjax/tex-svg-full.js
CHROMIUM := /usr/bin/chromium

.PHONY: demo test docs docs-check bench bench-peers lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,docs]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The demo needs only namedax and its `demo` extra (optax).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[demo]"
	rm -f $(VENV)/.installed-demo-*
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m namedax.demo

test: $(STAMP)
	XLA_FLAGS=--xla_force_host_platform_device_count=8 $(BIN)/python -m pytest -q -n 2 $(ARGS)

$(MATHJAX):
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	mkdir -p $(VENV)/mathjax $(dir $(MATHJAX))
	cd $(VENV)/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf $(VENV)/mathjax/mathjax-$(MATHJAX_VERSION).tgz -C $(VENV)/mathjax package/es5/tex-svg-full.js
	cp $(VENV)/mathjax/package/es5/tex-svg-full.js $(MATHJAX)

# Quiet: the notebook kernels log at ERROR only (no kernel-over-TCP warnings), and
# mkdocs-material's banner is off. NAMEDAX_DOCS_EXECUTE=false skips running notebooks.
docs: $(STAMP) $(MATHJAX)
	mkdir -p $(VENV)/ipython/profile_default
	echo 'c.IPKernelApp.log_level = "ERROR"' > $(VENV)/ipython/profile_default/ipython_kernel_config.py
	IPYTHONDIR=$(CURDIR)/$(VENV)/ipython NO_MKDOCS_2_WARNING=1 \
		XLA_FLAGS=--xla_force_host_platform_device_count=8 $(BIN)/mkdocs build --strict --quiet

# Checks the built site in headless Chromium: screenshots into site-check/, fails on
# clipped or empty elements, raw math, toc entries without their code, network use.
docs-check: $(STAMP)
	test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	$(BIN)/python tools/docs_check.py site --out site-check --chromium $(CHROMIUM)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check namedax tests benchmarks examples docs
	$(BIN)/ruff format --check namedax tests benchmarks examples
	$(BIN)/pyright

clean:
	rm -rf $(VENV) .venv-peers site site-check docs/javascripts/vendor

# The same benchmarks with the peer libraries (Haliax, Penzai) installed beside namedax.
bench-peers: pyproject.toml
	test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install --quiet -e ".[dev]" haliax penzai
	.venv-peers/bin/python -m benchmarks
