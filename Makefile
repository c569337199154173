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

.PHONY: setup retarget filter adapt dataset test lint bench clean help

help:
	@echo "make dataset   set up, then run ingest -> retarget -> filter -> dataset on MANIFEST ($(MANIFEST))"
	@echo "make retarget | filter | adapt   run the DAG up to that stage"
	@echo "make test      set up, then run the test suite"
	@echo "make bench     set up, then write benchmark figures to benchmarks/results/"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

retarget filter adapt dataset: setup
	$(PY) -m pipeline run $(RUN_ARGS) --until $@

test: setup lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: setup
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
