# Every target creates .venv itself, so `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	# torch first: 2.13.0 is served locally as a CPU build; an unpinned torch pulls GBs of CUDA.
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[train,dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 --timeout 600 tests

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow" tests

demo: $(STAMP)
	bash docs/demo.sh

# Quick sizes; each script's --help gives the flag for the full targets (docs/benchmarks.md).
bench: $(STAMP)
	$(PY) bench/ingest.py --n 100000
	$(PY) bench/curate.py --n 100000
	$(PY) bench/mix.py --n 200000
	$(PY) bench/teacher.py
	$(PY) bench/finetune.py --steps 100
	$(PY) bench/eval.py

clean:
	rm -rf $(VENV) .imitkit-demo build *.egg-info
