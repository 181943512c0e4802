# qdrive: every target creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := qemu-system-x86 qemu-utils fio libaio-dev liburing-dev gcc pkg-config e2fsprogs util-linux \
	libfuse3-3 strace
SECONDS ?= 60

.PHONY: demo test lint bench oracle compat debs clean grammar fuzz fuzz-qemu fuzz-qemu-argv tables globals-tables sanitize \
	asan-quick record generate heldback record-heldback hoststate versions fault-matrix durability \
	redteam wheel-check

# The Debian packages come first: the install builds the cffi backends against them.
$(STAMP): pyproject.toml setup.py qdrive/block/backends/_build.py $(wildcard qdrive/block/backends/csrc/*) | debs
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

# The demo needs only qdrive itself: no test extras, no Debian packages (an engine whose
# library is missing is left out of the build; the demo does not use the engines).
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	@touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/qdrive demo

# A wheel and an sdist built from a clean clone of HEAD; the wheel installed into a fresh
# venv per Python 3.11-3.13 found (pyenv's or on PATH) and used outside the source tree.
wheel-check: $(STAMP)
	$(BIN)/python -m tests.wheel_check

# The whole suite, every fuzz target for a bounded time (60 s in all), then a short run of
# the backend tests against the C engines built with ASan+UBSan.
test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/python -m tests.fuzz.run --seconds 60
	$(MAKE) --no-print-directory asan-quick

# The C engines under sanitizers (tests/block/backends/sanitize.py builds them into
# build/sanitize/): ASan+UBSan for every engine on the backend suites, TSan for the pool.
SAN := $(BIN)/python -m tests.block.backends.sanitize
SAN_SUITES := tests/block/backends/test_contract.py tests/block/backends/test_limits.py \
  tests/block/backends/test_lifecycle.py tests/block/backends/test_aio_limits.py tests/bench/test_bench.py
sanitize: $(STAMP)
	$(SAN) asan $(SAN_SUITES)
	$(SAN) tsan $(SAN_SUITES) -k "threads and not threads-py"

# The part of it make test runs (a minute or two): the contract, and every limit test
# on an O_DIRECT file.
asan-quick: $(STAMP)
	$(SAN) asan tests/block/backends/test_contract.py tests/block/backends/test_limits.py \
	  tests/block/backends/test_lifecycle.py tests/block/backends/test_aio_limits.py \
	  -k "not loop512 and not loop4096 and not ([file- and not [file-direct) and not 4096]"

# Coverage-guided fuzzing on demand: make fuzz SECONDS=600
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(SECONDS)

# Differential fuzzing against the real QEMU; disagreements land in fixtures/qemu72/.
CASES ?= 500
fuzz-qemu: $(STAMP)
	$(BIN)/python -m tests.fuzz.qemu_diff --cases $(CASES) --seed $$RANDOM

# The same for whole command lines (-drive/-blockdev/-device/-object spliced, references
# retargeted, JSON arguments changed); disagreements land in fixtures/qemu72/fuzz-found-argv.jsonl.
fuzz-qemu-argv: $(STAMP)
	$(BIN)/python -m tests.fuzz.qemu_diff_argv --cases $(CASES) --seed $$RANDOM

# The attack suite in full: every candidate, all of the corpus's accepted cases started in
# QEMU under strace (make test samples the corpus), then the fd hand-off demonstration.
WORKERS ?= 3
redteam: $(STAMP)
	$(BIN)/python -m tests.security.redteam --full --workers $(WORKERS)
	$(BIN)/python -m tests.security.handoff_demo

# The driver on the fault-injecting FUSE target (root): what EIO does under every backend,
# cache mode and werror/rerror policy, and kill -9 durability per cache mode.
fault-matrix: $(STAMP)
	$(BIN)/python -m tests.block.backends.test_fault_matrix

KILL_ROUNDS ?= 30
durability: $(STAMP)
	QDRIVE_KILL_ROUNDS=$(KILL_ROUNDS) $(BIN)/python -m tests.block.backends.test_durability

lint: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/ruff check qdrive tests benchmarks grammar examples
	$(BIN)/mypy

# A short version of the seed's table (a few seconds a row) next to fio, plus the parse
# and start-up figures. BENCH_TARGET may name another path that does not exist yet: bench
# creates it and removes it afterwards (an existing file or block device needs
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

# qdrive against every recorded corpus, per category and per source, from the recordings
# (no QEMU needed): make compat [DIALECT=qemu-7.2]
DIALECT ?= qemu-7.2
compat: $(STAMP)
	$(BIN)/python -m tests.compat.report --dialect $(DIALECT)

# Where the recorded QEMU versions part (QEMU against QEMU): what a dialect has to model.
versions: $(STAMP)
	$(BIN)/python -m tests.compat.versions

# Record one QEMU version's verdicts on every corpus with a case file (fixtures/generated,
# fixtures/harvest, the host states; for 10.0 and 11.1 also the original corpus) into
# fixtures/qemuXX/. 10.0 and 11.1 are the ../shared/tools/qemu-chroot wrappers; as root
# their trees first get what an ordinary install has (tests/compat/chroots.py). Slow
# (tens of minutes); never part of make test.
VERSION ?= 7.2
JOBS ?= 3
record: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then $(BIN)/python -m tests.compat.chroots; fi
	$(BIN)/python -m tests.compat.recorder --version $(VERSION) --jobs $(JOBS)
	$(BIN)/python -m tests.compat.hoststate --record --version $(VERSION)

# Regenerate the dev batches (seed 1) from the derived tables (tests check they are current).
generate: $(STAMP)
	$(BIN)/python -m tests.compat.generate --seed 1 --prefix dev1 --singles 3000 \
	  --cmdlines 1000 --out-singles fixtures/generated/singles.jsonl \
	  --out-cmdlines fixtures/generated/cmdlines.jsonl --exclude \
	  fixtures/qemu72/verdicts.jsonl fixtures/harvest/drives.jsonl fixtures/harvest/cmdlines.jsonl

# The batches held back outside the repository (HELDBACK): score them once, at the end,
# tables only (make heldback [DIALECT=...]); record-heldback records them again with
# every QEMU (counts only are printed).
HELDBACK ?= /work/heldback
heldback: $(STAMP)
	$(BIN)/python -m tests.compat.score_heldback --root $(HELDBACK) --dialect $(DIALECT)

record-heldback: $(STAMP)
	@for v in 7.2 10.0 11.1; do d=qemu$${v//./}; \
	  $(BIN)/python -m tests.compat.recorder --version $$v --quiet --jobs $(JOBS) \
	    --cases $(HELDBACK)/generated/cases-singles.jsonl $(HELDBACK)/generated/cases-cmdlines.jsonl \
	    --out $(HELDBACK)/generated/$$d 2>/dev/null || exit 1; \
	  $(BIN)/python -m tests.compat.recorder --version $$v --quiet --jobs $(JOBS) --source harvest \
	    --cases $(HELDBACK)/harvest/drives.jsonl $(HELDBACK)/harvest/cmdlines.jsonl \
	    --out $(HELDBACK)/harvest-recorded/$$d 2>/dev/null || exit 1; done

# Host states built for real (locks held by another QEMU, a read-only mount, a filesystem
# without O_DIRECT, io_uring disabled, an unprivileged QEMU, ...): qdrive's check() against
# the live QEMU, per state (root; VERSION as above).
hoststate: $(STAMP)
	$(BIN)/python -m tests.compat.hoststate --compare --version $(VERSION)

# After editing grammar/drive.lark: re-derive grammar/terminals.json (tests check it is current).
grammar: $(STAMP)
	$(BIN)/python -c 'from qdrive.frontend._syntax import write_terminals; print(write_terminals())'

# Re-derive QEMU's block-layer tables, grammar/qemu-*/ and grammar/qemu-versions.md, from each
# version's source and binary (grammar/derive_qemu.py says what and how). As root, a missing
# Debian source package is fetched with apt-get source into /var/cache/qdrive/qemu-src (a
# deb-src entry is added when apt lacks one) and the block modules of the qemu-chroot
# binaries are unpacked into /var/cache/qdrive/qemu-bin; nothing lands in the clone but the
# tables. `make test` checks that the tables are what the sources give (where they are here).
tables: $(STAMP)
	$(BIN)/python -m qdrive.grammar.derive_qemu --fetch

# Re-derive grammar/qemu-*/globals.json (what qdev_prop_check_globals() says about a -global
# no object took) from each QEMU binary that is installed: a few seconds each.
globals-tables: $(STAMP)
	@for v in 7.2 10.0 11.1; do b=qemu-system-x86_64; [ $$v = 7.2 ] || b=$$b-$$v; \
	  if command -v $$b >/dev/null; then \
	    $(BIN)/python -m qdrive.grammar.derive_globals --binary $$b --out grammar/qemu-$$v/globals.json; \
	  else echo "globals-tables: $$b not installed, grammar/qemu-$$v/globals.json kept"; fi; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
