# One entry point for users and CI. Every target depends on `setup`, so on a
# fresh machine `make dataset` alone installs and runs the whole pipeline.
PYTHON_BOOT ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
MANIFEST    ?= manifests/default.yaml
OUT         ?=
WORKERS     ?=
RUN_ARGS    := --manifest $(MANIFEST) $(if $(OUT),--out $(OUT)) $(if $(WORKERS),--workers $(WORKERS))
STAMP       := $(VENV)/.installed

.PHONY: setup retarget filter simulate adapt dataset report notebook test lint bench clean help

help:
	@echo "make dataset   set up, then run ingest -> retarget -> filter -> simulate -> adapt -> dataset (+ report) on MANIFEST ($(MANIFEST))"
	@echo "make retarget | filter | simulate | adapt   run the DAG up to that stage"
	@echo "make report    write OUT/report/index.html for MANIFEST's run (make dataset writes it too)"
	@echo "make notebook  install the .venv Jupyter kernel and open notebooks/ (or say how)"
	@echo "make test      set up, then run the test suite"
	@echo "make bench     set up, then write benchmark figures to benchmarks/results/"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

retarget filter simulate adapt dataset: setup
	$(PY) -m pipeline run $(RUN_ARGS) --until $@

report: setup
	$(PY) -m pipeline report $(if $(OUT),$(OUT),--manifest $(MANIFEST))

# Jupyter itself is not a dependency: the kernel goes into .venv, and Jupyter opens when installed.
notebook: setup
	$(PY) -m ipykernel install --sys-prefix --name humanoid-motion-pipeline --display-name "humanoid-motion-pipeline (.venv)"
	@if $(VENV)/bin/jupyter-lab --version >/dev/null 2>&1; then cd notebooks && ../$(VENV)/bin/jupyter-lab; \
	elif command -v jupyter-lab >/dev/null 2>&1; then JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter jupyter-lab notebooks; \
	elif command -v jupyter-notebook >/dev/null 2>&1; then JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter jupyter-notebook notebooks; \
	else echo "kernel 'humanoid-motion-pipeline (.venv)' installed in $(VENV)/share/jupyter."; \
	     echo "Jupyter is not installed: '$(PY) -m pip install jupyterlab' then 'make notebook' again,"; \
	     echo "or open notebooks/*.ipynb in VS Code and pick the $(VENV) interpreter as kernel."; fi

test: setup lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: setup
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
