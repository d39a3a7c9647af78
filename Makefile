# edgecam: `make run` runs the app, `make test` runs every test. Both build what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.11 is preferred: it is the one Python that has tflite-runtime wheels (the Pi case).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_PI := .venv-pi
VENV_TRAIN := .venv-train
PIP_FLAGS := --quiet --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt
CONSTRAINTS_PI := requirements/constraints-pi.txt
PI_PYTHON_OK := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info[:2] == (3, 11)))')

# Until the default model and the GUI land, `make run` shows the headless pipeline on a committed
# model and a demo clip it makes from the test fixtures.
RUN_MODEL ?= tests/fixtures/color_float32.tflite
RUN_SOURCE ?= assets/demo/colors.mp4

.PHONY: help venv venv-pi venv-train run test test-main test-pi lint fixtures demo bench lock clean

help:
	@echo "make run      - install (into .venv) and run live classification"
	@echo "make test     - build the test environments from nothing and run the whole suite"
	@echo "make lint     - ruff"
	@echo "make bench    - runtime overhead and start-up benchmarks -> docs/BENCHMARKS.md"
	@echo "make fixtures - regenerate the .tflite test fixtures (needs TensorFlow: .venv-train)"

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[litert,gui,dev]'
	touch $@

# The Raspberry Pi / Coral case: tflite-runtime + numpy<2 + OpenCV headless, no TensorFlow, no Qt.
$(VENV_PI)/.installed: pyproject.toml $(CONSTRAINTS_PI)
	$(PYTHON) -m venv $(VENV_PI)
ifeq ($(PI_PYTHON_OK),1)
	$(VENV_PI)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS_PI) -e '.[tflite-runtime]' pytest pytest-timeout
else
	@echo "NOTE: tflite-runtime has wheels only for Python 3.11; the Pi environment uses ai-edge-litert instead (still no TensorFlow, no Qt)."
	$(VENV_PI)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[litert]' pytest pytest-timeout
endif
	touch $@

$(VENV_TRAIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV_TRAIN)
	$(VENV_TRAIN)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[litert,train,dev]'
	touch $@

venv: $(VENV)/.installed
venv-pi: $(VENV_PI)/.installed
venv-train: $(VENV_TRAIN)/.installed

$(RUN_SOURCE): scripts/make_demo_clip.py | venv
	$(VENV)/bin/python scripts/make_demo_clip.py $@

run: venv $(RUN_SOURCE)
	$(VENV)/bin/edgecam run --model $(RUN_MODEL) --source $(RUN_SOURCE) --max-frames 90 --top-k 3

test: test-main test-pi

test-main: venv
	$(VENV)/bin/python -m pytest -q

# The Pi environment runs the tests that matter on a Pi; `full` tests need the dev environment.
test-pi: venv-pi
	$(VENV_PI)/bin/python -m pytest -q -m "not full and not gui" -p no:cacheprovider

LINT_DIRS := $(wildcard edgecam training tests benchmarks scripts)

lint: venv
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)

fixtures: venv-train
	$(VENV_TRAIN)/bin/python tests/fixtures/make_fixtures.py

# The training environment only builds the benchmark model; everything timed runs in .venv,
# where TensorFlow is not installed.
bench: venv venv-train
	$(VENV)/bin/python benchmarks/run_all.py --build-python $(VENV_TRAIN)/bin/python

# Refresh the pins after changing dependencies (unpinned installs, then freeze).
lock:
	rm -rf /tmp/edgecam-lock && $(PYTHON) -m venv /tmp/edgecam-lock
	/tmp/edgecam-lock/bin/pip install $(PIP_FLAGS) -e '.[litert,gui,train,dev]'
	/tmp/edgecam-lock/bin/pip freeze --exclude-editable > $(CONSTRAINTS).new
	@echo "review $(CONSTRAINTS).new (keep the numpy markers), then move it over $(CONSTRAINTS)"

clean:
	rm -rf $(VENV) $(VENV_PI) $(VENV_TRAIN) .pytest_cache .ruff_cache *.egg-info
