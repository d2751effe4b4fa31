# mae-bench: `make demo` runs the benchmark on the built-in synthetic data; `make test` runs the tests;
# `make lint` checks the style (ruff, settings in pyproject.toml); `make test-fast` lints, then the fast tests.
# Both create .venv with the whole stack on first use (tools/setup_env.sh; mmcv is built once and cached).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RUFF ?= $(VENV)/bin/ruff
QUICK ?= 0
PYTEST_ARGS ?=
JOBS ?= $(shell nproc)
# Tests run on JOBS worker processes (pytest-xdist), one thread each, and print the 15 slowest.
PYTEST := PYTHONPATH=$(CURDIR) OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(JOBS) --durations=15

.PHONY: setup demo lint test test-fast benchmark tables clean

setup:
	@bash tools/setup_env.sh

demo: setup
	PYTHONPATH=$(CURDIR) $(PY) tools/demo.py --out results/demo $(if $(filter 1,$(QUICK)),--quick,)

lint: setup
	$(RUFF) check .

test: setup
	$(PYTEST) $(PYTEST_ARGS)

test-fast: setup lint
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

benchmark: setup
	PYTHONPATH=$(CURDIR) $(PY) tools/benchmark.py --model mae_vit_base_patch16 --batch_size 8 --device cpu --dtype fp32 --out results/perf/benchmark_cpu.jsonl
	PYTHONPATH=$(CURDIR) $(PY) tools/benchmark.py --model mae_vit_base_patch16 --batch_size 8 --device cpu --dtype bf16 --out results/perf/benchmark_cpu.jsonl

tables: setup
	PYTHONPATH=$(CURDIR) $(PY) tools/make_tables.py --runs results/runs --out results/tables

clean:
	rm -rf work_dirs results/demo/work
