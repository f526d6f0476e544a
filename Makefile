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
# The worker shim of mkdocs-material's offline plugin (search over file://), from npm.
IFRAME_WORKER_VERSION := 1.0.4
IFRAME_WORKER := docs/javascripts/vendor/iframe-worker/shim.js
# `make test-min`: a venv with the lowest jax/jaxlib/equinox/jaxtyping that pyproject.toml
# declares (tools/min_requirements.py pins them) and a fast, representative part of the suite.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed-$(PYPROJECT_SUM)
MIN_TESTS := tests/test_array.py tests/test_axes.py tests/test_broadcast.py \
	tests/test_reductions.py tests/test_vmap.py tests/test_scan.py tests/test_grad.py \
	tests/test_random.py tests/test_nn_layers.py tests/test_stacked.py tests/test_typing.py
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-min wheel-check docs docs-fast docs-check bench bench-peers lint clean

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

$(IFRAME_WORKER):
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	mkdir -p $(VENV)/iframe-worker $(dir $(IFRAME_WORKER))
	cd $(VENV)/iframe-worker && npm pack --silent iframe-worker@$(IFRAME_WORKER_VERSION) >/dev/null
	tar -xzf $(VENV)/iframe-worker/iframe-worker-$(IFRAME_WORKER_VERSION).tgz -C $(VENV)/iframe-worker package/shim/index.js
	cp $(VENV)/iframe-worker/package/shim/index.js $(IFRAME_WORKER)

$(MATHJAX):
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	mkdir -p $(VENV)/mathjax $(dir $(MATHJAX))
	cd $(VENV)/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf $(VENV)/mathjax/mathjax-$(MATHJAX_VERSION).tgz -C $(VENV)/mathjax package/es5/tex-svg-full.js
	cp $(VENV)/mathjax/package/es5/tex-svg-full.js $(MATHJAX)

# Quiet: the notebook kernels log at ERROR only (no kernel-over-TCP warnings), and
# mkdocs-material's banner is off. `make docs-fast` (NAMEDAX_DOCS_EXECUTE=false) shows the
# notebooks without running them: seconds instead of minutes, for layout work.
docs: $(STAMP) $(MATHJAX) $(IFRAME_WORKER)
	mkdir -p $(VENV)/ipython/profile_default
	echo 'c.IPKernelApp.log_level = "ERROR"' > $(VENV)/ipython/profile_default/ipython_kernel_config.py
	IPYTHONDIR=$(CURDIR)/$(VENV)/ipython NO_MKDOCS_2_WARNING=1 \
		XLA_FLAGS=--xla_force_host_platform_device_count=8 $(BIN)/mkdocs build --strict --quiet

docs-fast:
	NAMEDAX_DOCS_EXECUTE=false $(MAKE) docs

# Checks the built site in headless Chromium: screenshots into site-check/, fails on
# clipped or empty elements, code under the copy button, pages too tall, raw math, toc
# entries without their code, network use, and search that finds nothing (over http and
# file://).
docs-check: $(STAMP)
	test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	$(BIN)/python tools/docs_check.py site --out site-check --chromium $(CHROMIUM)

$(MIN_STAMP): pyproject.toml tools/min_requirements.py
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python tools/min_requirements.py > $(MIN_VENV)/min-requirements.txt
	$(MIN_VENV)/bin/pip install --quiet -r $(MIN_VENV)/min-requirements.txt -e . \
		pytest hypothesis beartype
	rm -f $(MIN_VENV)/.installed-*
	touch $(MIN_STAMP)

# The lowest declared versions, installed exactly, on a representative part of the suite.
test-min: $(MIN_STAMP)
	@$(MIN_VENV)/bin/python -c "import jax, jaxlib, equinox, jaxtyping; print('test-min: jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'equinox', equinox.__version__, 'jaxtyping', jaxtyping.__version__)"
	XLA_FLAGS=--xla_force_host_platform_device_count=8 $(MIN_VENV)/bin/python -m pytest -q \
		-p no:xdist $(MIN_TESTS) $(ARGS)

# A wheel built with `python -m build`, installed into a fresh venv, runs the README's example.
wheel-check: $(STAMP)
	XLA_FLAGS=--xla_force_host_platform_device_count=8 $(BIN)/python -m pytest -q -p no:xdist \
		tests/test_packaging.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check namedax tests benchmarks examples docs
	$(BIN)/ruff format --check namedax tests benchmarks examples
	$(BIN)/pyright

clean:
	rm -rf $(VENV) $(MIN_VENV) .venv-peers site site-check dist docs/javascripts/vendor

# The same benchmarks with the peer libraries (Haliax, Penzai) installed beside namedax.
bench-peers: pyproject.toml
	test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install --quiet -e ".[dev]" haliax penzai
	.venv-peers/bin/python -m benchmarks
