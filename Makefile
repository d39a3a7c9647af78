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

# `make run`: live classification with the bundled default model on camera 0, or on the demo
# clip when there is no camera (the app says which).
DEFAULT_BUNDLE := assets/models/default
RUN_ARGS ?=

# The default model's recipe (docs/DEFAULT_MODEL.md): Fashion-MNIST, MobileNetV1-style,
# int8. `make default-model` retrains and re-exports it from scratch.
DEFAULT_RUN := .runs/default
DEFAULT_RECIPE := --arch mobilenet_v1 --alpha 0.5 --depth 8 --dropout 0.1 --epochs 14 \
	--batch-size 128 --lr 0.003 --label-smoothing 0.05 --val-split 0.05 --rotation 0 --zoom 0 \
	--brightness 0 --contrast 0 --translate 0.05 --patience 0 --seed 42
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: help venv venv-pi venv-train run test test-main test-pi test-train lint fixtures bench dist \
	default-model demo screenshot lock clean

help:
	@echo "make run      - install (into .venv) and run live classification"
	@echo "make test     - build the test environments from nothing and run the whole suite"
	@echo "make lint     - ruff"
	@echo "make dist     - the wheel and the sdist in dist/ (python -m build)"
	@echo "make bench    - every benchmark (runtimes, quantization, latency, memory...) -> docs/BENCHMARKS.md"
	@echo "make fixtures - regenerate the .tflite test fixtures (needs TensorFlow: .venv-train)"
	@echo "make default-model - retrain + export + evaluate assets/models/default (Fashion-MNIST)"
	@echo "make demo     - regenerate the demo clip and sample images in assets/demo"

$(VENV)/.installed: pyproject.toml setup.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[litert,gui,dev,serve,mqtt,teach]'
	touch $@

# The wheel and the sdist, as a device installs them (`python -m build`); the Pi suite runs on
# the installed wheel, not on the checkout.
DIST := dist

dist: venv
	rm -rf $(DIST)
	$(VENV)/bin/python -m build --outdir $(DIST) . > $(VENV)/build.log 2>&1 || (cat $(VENV)/build.log; exit 1)
	@ls -l $(DIST) | tail -n +2

# The Raspberry Pi / Coral case: tflite-runtime + numpy<2 + OpenCV headless, no TensorFlow, no Qt.
$(VENV_PI)/.installed: pyproject.toml setup.py $(CONSTRAINTS_PI) | dist
	$(PYTHON) -m venv $(VENV_PI)
ifeq ($(PI_PYTHON_OK),1)
	$(VENV_PI)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS_PI) "$$(ls $(DIST)/edgecam-*.whl)[tflite-runtime,serve,mqtt,teach]" pytest pytest-timeout
else
	@echo "NOTE: tflite-runtime has wheels only for Python 3.11; the Pi environment uses ai-edge-litert instead (still no TensorFlow, no Qt)."
	$(VENV_PI)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) "$$(ls $(DIST)/edgecam-*.whl)[litert,serve,mqtt,teach]" pytest pytest-timeout
endif
	touch $@

$(VENV_TRAIN)/.installed: pyproject.toml setup.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV_TRAIN)
	$(VENV_TRAIN)/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[litert,train,dev]'
	touch $@

venv: $(VENV)/.installed
venv-pi: $(VENV_PI)/.installed
venv-train: $(VENV_TRAIN)/.installed

run: venv
	$(VENV)/bin/edgecam run $(RUN_ARGS)

test: test-main test-pi test-train

# The app environment (no TensorFlow): everything except the TensorFlow-only training tests.
test-main: venv
	$(VENV)/bin/python -m pytest -q

# The training environment runs the training tests (they skip in the other environments).
test-train: venv-train
	$(VENV_TRAIN)/bin/python -m pytest -q -p no:cacheprovider -p no:pytest-qt $(wildcard tests/test_training_*.py)

# The Pi environment runs the tests that matter on a Pi, against the freshly built wheel installed
# there: run from tests/, so the checkout's edgecam/ is not on sys.path. `full` tests need the
# dev environment.
test-pi: dist venv-pi
	$(VENV_PI)/bin/pip install $(PIP_FLAGS) --force-reinstall --no-deps $(DIST)/edgecam-*.whl
	cd tests && EDGECAM_TEST_INSTALLED=1 ../$(VENV_PI)/bin/python -m pytest -q -m "not full and not gui" -p no:cacheprovider

LINT_DIRS := $(wildcard edgecam training tests benchmarks scripts)

lint: venv
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)

fixtures: venv-train
	$(VENV_TRAIN)/bin/python tests/fixtures/make_fixtures.py

$(FASHION_DIR):
	@echo "Fashion-MNIST is needed: apt-get install dataset-fashion-mnist (or pass --data DIR)"
	@exit 1

# Retrain, export and evaluate the default model from scratch; the whole recipe is timed.
default-model: venv-train | $(FASHION_DIR)
	rm -rf $(DEFAULT_RUN)
	time ( $(VENV_TRAIN)/bin/edgecam train --dataset fashion-mnist --out $(DEFAULT_RUN) $(DEFAULT_RECIPE) && \
	  $(VENV_TRAIN)/bin/edgecam export --run $(DEFAULT_RUN) --out $(DEFAULT_BUNDLE) --mode int8 \
	    --name fashion-mnist-mobilenet-v1-int8 --resize crop --max-drop 0.5 && \
	  $(VENV_TRAIN)/bin/edgecam evaluate --model $(DEFAULT_BUNDLE) --run $(DEFAULT_RUN) \
	    --out $(DEFAULT_BUNDLE)/report )

# The demo clip and sample images (Fashion-MNIST test images) under assets/demo.
demo: venv | $(FASHION_DIR)
	$(VENV)/bin/python scripts/make_demo_assets.py --out assets/demo

# A real window under Xvfb on the demo clip (apt-get install xvfb libxcb-cursor0).
screenshot: venv
	xvfb-run -a -s "-screen 0 1100x700x24" $(VENV)/bin/python scripts/screenshot.py docs/screenshot.png
	xvfb-run -a -s "-screen 0 1280x800x24" $(VENV)/bin/python scripts/teach_screenshots.py docs

# The trained default-model run, for the quantization table (trains it when missing, ~20 min).
$(DEFAULT_RUN)/best.keras: | venv-train $(FASHION_DIR)
	$(VENV_TRAIN)/bin/edgecam train --dataset fashion-mnist --out $(DEFAULT_RUN) $(DEFAULT_RECIPE)

# The training environment builds the benchmark models (and times tf.lite); .venv-pi times
# tflite-runtime; everything else is timed in .venv, where TensorFlow is not installed.
bench: venv venv-pi venv-train $(DEFAULT_RUN)/best.keras
	$(VENV)/bin/python benchmarks/run_all.py --build-python $(VENV_TRAIN)/bin/python

# Refresh the pins after changing dependencies (unpinned installs, then freeze).
lock:
	rm -rf /tmp/edgecam-lock && $(PYTHON) -m venv /tmp/edgecam-lock
	/tmp/edgecam-lock/bin/pip install $(PIP_FLAGS) -e '.[litert,gui,train,dev,serve,mqtt,teach]'
	/tmp/edgecam-lock/bin/pip freeze --exclude-editable > $(CONSTRAINTS).new
	@echo "review $(CONSTRAINTS).new (keep the numpy markers), then move it over $(CONSTRAINTS)"

clean:
	rm -rf $(VENV) $(VENV_PI) $(VENV_TRAIN) $(DIST) build .pytest_cache .ruff_cache *.egg-info
