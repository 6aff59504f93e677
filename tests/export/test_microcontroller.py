"""TFLite Micro artifacts: the arena measured in the real interpreter, the C array, the budgets,
TFLite Micro's output against PyTorch, and the CLI's exit code when a part does not fit."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgedistil.cli import cli
from edgedistil.data import SAMPLE_TEXT
from edgedistil.errors import ExportError
from edgedistil.profiles import load_profile
from tests.conftest import write_profile

LENGTH = 32  # cortex-m7's sequence length


def _spec(student: Path, out: Path, scheme: str = "full-int8", **overrides: Any) -> Any:
    from edgedistil.export.tflite import TFLiteSpec

    settings: dict[str, Any] = {
        "student": student,
        "out": out,
        "scheme": scheme,
        "sequence_length": LENGTH,
        "runtime": "tflite-micro",
        "calibration": SAMPLE_TEXT,
        "eval_text": SAMPLE_TEXT,
        "max_drop": 0.02,
        "calibration_sentences": 64,
        "eval_sentences": 32,
    }
    return TFLiteSpec(**(settings | overrides))


@pytest.fixture(scope="module")
def micro(tiny_classifier: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from edgedistil.export.microcontroller import microcontroller_artifacts
    from edgedistil.export.tflite import convert_tflite

    result = convert_tflite(_spec(tiny_classifier, tmp_path_factory.mktemp("micro")))
    mcu = microcontroller_artifacts(
        result.path, load_profile("cortex-m7"), reference=result.reference
    )
    return result, mcu


@pytest.mark.slow
def test_the_graph_for_tflite_micro_has_no_gelu_and_int32_ids(micro: tuple[Any, Any]) -> None:
    result, _ = micro
    assert "GELU" not in result.ops.ops and "LOGISTIC" in result.ops.ops
    assert result.ops.passed and result.ops.int64_tensors == ()
    assert result.rewrites[0].startswith("GELU -> x*sigmoid(1.702x) GELU")


@pytest.mark.slow
def test_the_arena_is_the_smallest_that_runs_in_tflite_micro(micro: tuple[Any, Any]) -> None:
    from edgedistil.export.micro_interpreter import sample_inputs, try_arena

    result, mcu = micro
    data = result.path.read_bytes()
    sample = sample_inputs(data)
    assert mcu.arena_bytes % 16 == 0 and 1_000 < mcu.arena_bytes < 1_000_000
    assert try_arena(data, mcu.arena_bytes, sample) is None
    too_small = try_arena(data, mcu.arena_bytes - 16, sample)
    assert too_small is not None  # "Failed to allocate", or the planner's "Too many buffers"


@pytest.mark.slow
def test_tflite_micro_agrees_with_pytorch(micro: tuple[Any, Any]) -> None:
    _, mcu = micro
    assert mcu.fidelity is not None and mcu.fidelity.sentences == 32
    assert mcu.fidelity.agreement == 1.0 and mcu.fidelity.max_abs_diff < 0.05


@pytest.mark.slow
def test_the_c_array_is_the_model_aligned_with_its_sha256(micro: tuple[Any, Any]) -> None:
    result, mcu = micro
    data = result.path.read_bytes()
    source = mcu.c_path.read_text()
    header = mcu.h_path.read_text()
    digest = hashlib.sha256(data).hexdigest()
    assert f"// sha256: {digest}" in source and f"// sha256: {digest}" in header
    assert "__attribute__((aligned(16))) const unsigned char g_model[]" in source
    assert f"const unsigned int g_model_len = {len(data)};" in source
    assert f"#define G_MODEL_ARENA_BYTES {mcu.arena_bytes}" in header
    body = source.split("= {", 1)[1].split("};", 1)[0]
    assert bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body)) == data


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ to compile the C array")
def test_the_c_array_compiles_with_external_linkage(micro: tuple[Any, Any], tmp_path: Path) -> None:
    _, mcu = micro
    obj = tmp_path / "model_data.o"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Werror", "-c", str(mcu.c_path), "-o",
                    str(obj)], check=True)  # fmt: skip
    symbols = subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout
    assert re.search(r" R g_model\n", symbols) and re.search(r" R g_model_len\n", symbols)


@pytest.mark.slow
def test_budgets_say_which_part_is_too_big_and_by_how_much(micro: tuple[Any, Any]) -> None:
    from edgedistil.export.microcontroller import microcontroller_artifacts

    result, mcu = micro
    profile = load_profile("cortex-m7")
    assert mcu.fits
    assert mcu.flash_bytes == result.bytes + profile.device.runtime_overhead_bytes
    tight = dataclasses.replace(
        profile, budgets=dataclasses.replace(profile.budgets, max_arena_bytes=10_000)
    )
    over = microcontroller_artifacts(result.path, tight)
    arena = next(c for c in over.checks if c.name == "arena")
    assert not over.fits and not arena.passed and arena.over_by == mcu.arena_bytes - 10_000
    assert all(c.passed for c in over.checks if c.name != "arena")


@pytest.mark.slow
def test_int16x8_is_refused_for_tflite_micro_and_not_written(
    tiny_classifier: Path, tmp_path: Path
) -> None:
    from edgedistil.export.tflite import convert_tflite

    with pytest.raises(
        ExportError,
        # its FULLY_CONNECTED biases are int64, which the op check refuses before TFLite Micro
        match=r"uses what tflite-micro cannot run: int64 tensors .*16-bit activations bring",
    ):
        convert_tflite(_spec(tiny_classifier, tmp_path, "int16x8"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_model_with_gelu_is_refused(tiny_classifier: Path, tmp_path: Path) -> None:
    from edgedistil.export.microcontroller import microcontroller_artifacts
    from edgedistil.export.tflite import convert_tflite

    litert = convert_tflite(_spec(tiny_classifier, tmp_path, "full-int8", runtime="litert"))
    with pytest.raises(ExportError, match="TFLite Micro cannot run it: GELU"):
        microcontroller_artifacts(litert.path, load_profile("cortex-m7"))


@pytest.mark.slow
def test_cli_convert_for_cortex_m7_exits_3_when_the_arena_is_over(
    runner: CliRunner, tiny_bert: Path, tmp_path: Path
) -> None:
    profile = write_profile(
        tmp_path / "tiny-m7.toml",
        'extends = "cortex-m7"\n[budgets]\nmax_arena_bytes = 8_192\n',
    )
    out = tmp_path / "out"
    result = runner.invoke(cli, ["convert", str(tiny_bert), "--target", str(profile), "--out",
                                 str(out)])  # fmt: skip
    assert result.exit_code == 3, result.output
    assert re.search(r"the arena \([\d,]+ bytes\) exceeds the budget \(8,192\) by", result.stdout)
    assert "TFLite Micro against PyTorch on 64 sentences: cosine" in result.stdout
    assert {p.name for p in out.iterdir()} >= {"model.full-int8.tflite", "model_data.cc",
                                                "model_data.h", "model_data.json", "tokenizer.c",
                                                "tokenizer.h"}  # fmt: skip
    # the WordPiece tokenizer in C beside the array, its flash in the flash checked
    flash = json.loads((out / "model_data.json").read_text())["tokenizer_flash_bytes"]
    assert flash > 0 and f"{flash:,} bytes of flash" in result.stdout


def test_microcontroller_artifacts_refuses_a_missing_file(tmp_path: Path) -> None:
    from edgedistil.export.microcontroller import microcontroller_artifacts

    with pytest.raises(ExportError, match=r"nope.tflite: no such .tflite file"):
        microcontroller_artifacts(tmp_path / "nope.tflite", load_profile("cortex-m7"))


def test_cli_ops_refuses_a_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["ops", str(tmp_path / "nope.tflite"), "--target", "esp32-s3"])
    assert result.exit_code == 2  # click's own usage error: the path must exist
    assert "does not exist" in result.stderr


def test_a_bad_symbol_is_refused(tmp_path: Path) -> None:
    from edgedistil.export.microcontroller import write_c_array

    with pytest.raises(ExportError, match='symbol "1model": a C identifier is needed'):
        write_c_array(b"\x00", tmp_path, symbol="1model", arena=16, source="m.tflite")


@pytest.mark.slow
def test_the_latency_estimate_counts_the_macs_of_the_tiny_config(
    micro: tuple[Any, Any], tiny_classifier: Path
) -> None:
    from edgedistil.export.mcu_latency import estimate_file

    result, _ = micro
    config = json.loads((tiny_classifier / "config.json").read_text())
    s, h, i = LENGTH, config["hidden_size"], config["intermediate_size"]
    layers, labels = config["num_hidden_layers"], len(config["id2label"])
    # per layer: Q, K, V and the output projection (4 H x H), the feed-forward pair (H x I);
    # each of the 2L + 1 LayerNorms takes a mean and a mean of squares as an H -> 1 product
    # (TFLite Micro has no LayerNorm kernel); the pooler (H x H) and the classifier read the
    # [CLS] row only
    fully_connected = layers * (4 * s * h * h + 2 * s * h * i) + (2 * layers + 1) * 2 * s * h
    fully_connected += h * h + h * labels
    attention = layers * 2 * s * s * h  # scores and the weighted sum, over every head
    profile = load_profile("cortex-m7")
    made = estimate_file(result.path, profile.estimate, 480)
    work = {line.op: line.work for line in made.lines}
    assert (work["FULLY_CONNECTED"], work["BATCH_MATMUL"]) == (fully_connected, attention)
    assert made.unpriced == () and 0 < made.low_ms < made.high_ms
