# Two entry points for a fresh machine: `make demo` (main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
SHARED ?= $(abspath ../shared)
export KERAS_BACKEND := tensorflow
# two pytest processes: while one traces, converts or starts a child, the other computes
TEST_WORKERS ?= 2

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	# 100 Apache-2.0 street photos (data only; its own imports are not used)
	$(VENV)/bin/pip install --quiet --no-deps ai-benchmark==0.1.2
	touch $@

install: $(VENV)/.installed

test: install
	PIRM_DATA_DIR=$${PIRM_DATA_DIR-$(SHARED)/data/pirm2018} \
	PIRM_WEIGHTS_DIR=$${PIRM_WEIGHTS_DIR-$(SHARED)/pretrained} \
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) -ra --durations=25 tests

.PHONY: install test

demo: install
	$(VENV)/bin/python tools/demo.py

.PHONY: demo
