# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install

install: $(STAMP)

# torch first, pinned to the local CPU wheel, so the project's torch range is already met
# and pip never pulls a multi-GB CUDA build.
$(STAMP): setup.cfg setup.py pyproject.toml hybrid/formats/_runio.c hybrid/_fusion_kernels.c hybrid/_keyset.h
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,ray]'  # also compiles the run reader/writer and fusion kernels (gcc)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m hybrid demo

test: $(STAMP)
	$(PY) -m ruff check hybrid tests bench
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff format hybrid tests bench
	$(PY) -m ruff check --fix hybrid tests bench
