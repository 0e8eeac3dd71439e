# pyramid: one entry point for setting up, building the demo pyramid, testing and benchmarking.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION    := 0.13.9
PYTHON        ?= python3
VENV          := .venv
VPY           := $(VENV)/bin/python
INSTALLED     := $(VENV)/.installed
PYRAMID_HOME  ?= $(CURDIR)/.pyramid
SCALE         ?= quick
DAGSTER_HOME  := $(PYRAMID_HOME)/dagster

# Where the pyramid lives; every other variable a process needs is defaulted by schemas/settings.py.
export PYRAMID_HOME DAGSTER_HOME

.PHONY: help setup system-deps demo test test-fast lint ui bench clean

help:
	@echo "make demo   - set everything up and build the pyramid on the embedded default data (about 10 min on 2 cores)"
	@echo "make demo SCALE=full - the same at full scale (hours on a 2-core machine)"
	@echo "make test   - set everything up, lint, and run the whole test suite"
	@echo "make test-fast - lint and run the tests not marked slow (the edit-test loop)"
	@echo "make ui     - serve the Dagster UI (http://127.0.0.1:3000)"
	@echo "make bench  - run the benchmarks in benchmarks/"
	@echo "make setup  - only create .venv from requirements.lock (idempotent)"

setup: system-deps $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml

# Debian packages are installed only when what they provide is missing: FFmpeg libraries (torchcodec),
# OSMesa (headless MuJoCo rendering), Chromium and its driver (the UI test).
system-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libavutil\.so' || missing="$$missing ffmpeg"; \
	ldconfig -p | grep -q 'libOSMesa\.so' || missing="$$missing libosmesa6"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Bytecode is compiled at install: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set nothing
# caches it later, so every process (each CLI call, Dagster run, Ray and loader worker) compiled torch, dagster,
# ray and the rest again: 36 s of imports in one process, 15 s compiled.
$(INSTALLED): requirements.lock pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"pyramid needs Python 3.12, found {sys.version.split()[0]}"'
	@$(PYTHON) -m uv --version 2>/dev/null | grep -q "$(UV_VERSION)" || $(PYTHON) -m pip install -q "uv==$(UV_VERSION)"
	$(PYTHON) -m uv venv --allow-existing --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')" $(VENV)
	$(PYTHON) -m uv pip sync --compile-bytecode --python $(VPY) requirements.lock
	$(PYTHON) -m uv pip install --python $(VPY) --no-deps -e .
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: setup
	$(VPY) -m assets.demo --scale $(SCALE)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/dagster definitions validate
	$(VENV)/bin/pytest

test-fast: lint
	$(VENV)/bin/pytest -m "not slow"

ui: setup
	$(VENV)/bin/dagster dev --host 127.0.0.1 --port 3000

bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(VPY) $$script || exit 1; done
	$(VPY) benchmarks/report.py

clean:
	rm -rf $(PYRAMID_HOME)
