# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian's Chromium, driven by Playwright in tests/web (never `playwright install`)
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-fast test-sanitize lint bench install

install: $(STAMP)

# torch first, pinned to the local CPU wheel, so the project's torch range is already met
# and pip never pulls a multi-GB CUDA build.
$(STAMP): setup.cfg setup.py pyproject.toml hybrid/formats/_runio.c hybrid/_fusion_kernels.c hybrid/_keyset.h
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,web,ray]'  # also compiles the run reader/writer and fusion kernels (gcc)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m hybrid demo

# Only when missing: CI runs as root on a clean Debian machine.
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(PY) -m ruff check hybrid tests bench
	$(PY) -m pytest -q
	$(MAKE) test-sanitize

# The compiled modules rebuilt with AddressSanitizer and UBSan (into build/sanitize, beside a copy of
# the package) under the parser, writer and fusion property tests. Python itself is not instrumented,
# so the ASan runtime is preloaded and leak checking (Python's own allocations) is off. Run from inside
# build/sanitize so that its copy of the package, not the checkout's, is the one imported.
SANITIZE := build/sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
SANITIZE_TESTS := tests/formats/test_run_parser.py tests/formats/test_runs.py tests/fusion/test_fusion_properties.py
SANITIZED_ENV := LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  PYTHONPATH=.
test-sanitize: $(STAMP)
	$(PY) -c 'import setuptools' 2>/dev/null || $(PY) -m pip install --quiet setuptools
	rm -rf $(SANITIZE) && mkdir -p $(SANITIZE)
	cp -r hybrid $(SANITIZE)/ && find $(SANITIZE) -name '*.so' -delete
	CFLAGS="$(SANITIZE_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
	  $(PY) setup.py -q build_ext --build-lib $(SANITIZE) --build-temp $(SANITIZE)/tmp
	cd $(SANITIZE) && $(SANITIZED_ENV) $(abspath $(PY)) -c 'import hybrid._fusion_kernels as f, \
	  hybrid.formats._runio as r; assert all("$(SANITIZE)/" in m.__file__ for m in (f, r)), "not sanitized"'
	cd $(SANITIZE) && $(SANITIZED_ENV) $(abspath $(PY)) -m pytest -q -p no:cacheprovider \
	  --rootdir $(CURDIR) $(addprefix $(CURDIR)/,$(SANITIZE_TESTS))

# The tests that need no JVM, model or built index (tests/conftest.py marks the others `slow`).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff format hybrid tests bench
	$(PY) -m ruff check --fix hybrid tests bench
