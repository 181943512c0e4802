# qdrive: every target creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := qemu-system-x86 qemu-utils fio libaio-dev liburing-dev gcc e2fsprogs util-linux strace
SECONDS ?= 60

.PHONY: demo test lint bench oracle compat debs clean grammar fuzz fuzz-qemu redteam

# The Debian packages come first: the install builds the cffi backends against them.
$(STAMP): pyproject.toml setup.py qdrive/backends/_build.py | debs
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Debian packages the tests use (the QEMU oracle); installed only when root and missing.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: skipping Debian packages:$$missing (live QEMU tests will skip)"; fi; \
	fi

demo: $(STAMP)
	$(BIN)/qdrive demo

# The whole suite, then every fuzz target for a bounded time (60 s in all).
test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/python -m tests.fuzz.run --seconds 60

# Coverage-guided fuzzing on demand: make fuzz SECONDS=600
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(SECONDS)

# Differential fuzzing against the real QEMU; disagreements land in fixtures/qemu72/.
CASES ?= 500
fuzz-qemu: $(STAMP)
	$(BIN)/python -m tests.fuzz.qemu_diff --cases $(CASES) --seed $$RANDOM

# The attack suite in full: every candidate, all of the corpus's accepted cases started in
# QEMU under strace (make test samples the corpus), then the fd hand-off demonstration.
WORKERS ?= 3
redteam: $(STAMP)
	$(BIN)/python -m tests.security.redteam --full --workers $(WORKERS)
	$(BIN)/python -m tests.security.handoff_demo

lint: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/ruff check qdrive tests benchmarks
	$(BIN)/mypy

# A short version of the seed's table (a few seconds a row) next to fio, plus the parse
# and start-up figures. BENCH_TARGET may name another file (a block device needs
# --yes-destroy-data, deliberately not given here).
BENCH_TARGET ?= /var/tmp/qdrive-bench.img
BENCH_SECONDS ?= 3
bench: $(STAMP)
	$(BIN)/python benchmarks/parse.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/qdrive bench "file=$(BENCH_TARGET),cache=none" --matrix --runtime $(BENCH_SECONDS) \
	  --size 1G --out benchmarks/last-matrix

# Re-record QEMU 7.2's verdicts for the corpus in fixtures/ (needs qemu-system-x86_64).
oracle: $(STAMP)
	$(BIN)/python -m tests.compat.record

compat: $(STAMP)
	$(BIN)/python -m tests.compat.report

# After editing grammar/drive.lark: re-derive grammar/terminals.json (tests check it is current).
grammar: $(STAMP)
	$(BIN)/python -c 'from qdrive._syntax import write_terminals; print(write_terminals())'

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
