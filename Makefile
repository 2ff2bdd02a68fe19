# Two commands do all set-up on a fresh Debian/Ubuntu machine with Python >= 3.10:
#   make demo   - the main job
#   make test   - the test suite (what CI runs)
# Both create .venv when missing and install torch first (the CPU build), then the rest.

VENV ?= .venv
PYTHON ?= python3
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps demo test lint bench clean

$(STAMP): requirements.txt requirements-typecheck.txt constraints.txt setup.py
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: anything else would let pip pull the multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-typecheck.txt
	$(PIP) install --quiet -c constraints.txt --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Open3D's wheel links libusb, which Debian ships separately.
system-deps:
	@if ! ldconfig -p | grep -q 'libusb-1.0.so.0'; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libusb-1.0-0; \
	fi

demo: setup
	$(VENV)/bin/nvs-fusion demo --out out/demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -p no:dash -p no:cacheprovider

bench: setup
	$(VENV)/bin/python benchmarks/bench_denoise.py

clean:
	rm -rf $(VENV) out build *.egg-info
