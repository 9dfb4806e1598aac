# nora_lab — the two set-up commands are `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= $(CURDIR)/demo
LAB_PORT ?= 8888
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: env services testdata lab demo test test-fast bench lint clean hub hub-down

## the Python environment (a venv with the package and its test tools)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	@# editable installs skip data-files: enable the server extension (links, REST import) here
	install -D -m 644 jupyter-config/jupyter_server_config.d/nora_lab.json \
		$(VENV)/etc/jupyter/jupyter_server_config.d/nora_lab.json
	@# ... and the prebuilt JupyterLab extension (nora_lab/labextension, built from extensions/)
	mkdir -p $(VENV)/share/jupyter/labextensions
	ln -sfn $(CURDIR)/nora_lab/labextension $(VENV)/share/jupyter/labextensions/nora-lab-jupyterlab
	touch $(STAMP)

env: $(STAMP)

## system services the suite starts for real (PostgreSQL, Slurm, chromium, ...)
services:
	bash scripts/install_services.sh

## the suite's public test data, verified file by file (nora_lab/testing/testdata.json):
## used in place from $$NORA_TESTDATA, ~/.cache/nora_lab/testdata or ../shared/data, else downloaded
testdata: env
	$(BIN)/python -m nora_lab.testing.testdata fetch

## a demo archive built through the real import path, then JupyterLab on the quickstart
demo: env
	NORA_HOME=$(DEMO_HOME) $(BIN)/python -m nora_lab.demo

lab: demo
	NORA_HOME=$(DEMO_HOME) $(BIN)/jupyter lab notebooks/quickstart.ipynb \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(ROOT_FLAG)

## the whole suite, services included (after lint: ruff and mypy)
test: lint testdata services
	$(BIN)/python -m pytest

test-fast: lint testdata
	$(BIN)/python -m pytest -m "not slow and not slurm and not browser"

bench: env testdata services
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

## a demo lab deployment on this machine: Slurm, PostgreSQL, the proxy and JupyterHub
hub: env
	bash scripts/hub/up.sh

hub-down:
	bash scripts/hub/down.sh

## ruff on the code, tests and benchmarks; mypy on the package ([tool.mypy] in pyproject)
lint: env
	$(BIN)/ruff check nora_lab tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DEMO_HOME) artifacts .pytest_cache
