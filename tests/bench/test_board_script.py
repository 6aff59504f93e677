"""The board script on its own: Python 3.8, its statistics, its inputs, its errors."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgedistil.bench import board_script, stats
from edgedistil.bench.base import SCRIPT

PYTHON38_CANDIDATES = ("/root/.pyenv/versions/3.8.18/bin/python", "python3.8")


def python38() -> str | None:
    """A Python 3.8 that really runs (a pyenv shim may exist for a version that is not set)."""
    for candidate in PYTHON38_CANDIDATES:
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path is None:
            continue
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 8)":
            return path
    return None


def test_the_script_parses_as_python_3_8() -> None:
    ast.parse(SCRIPT.read_text(encoding="utf-8"), feature_version=(3, 8))


def test_the_script_imports_nothing_of_edgedistil() -> None:
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
        if alias.name
    }
    assert "edgedistil" not in imported and "tokenizers" not in imported


def test_runs_under_python_3_8() -> None:
    python = python38()
    if python is None:
        pytest.skip(f"no Python 3.8 here (looked for {', '.join(PYTHON38_CANDIDATES)})")
    done = subprocess.run([python, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--model" in done.stdout and "--threads" in done.stdout


def test_a_board_without_numpy_or_the_runtime_says_what_to_install(tmp_path: Path) -> None:
    """Python 3.8 here has no numpy and no onnxruntime: a real board without either."""
    python = python38()
    if python is None:
        pytest.skip(f"no Python 3.8 here (looked for {', '.join(PYTHON38_CANDIDATES)})")
    (tmp_path / "model.onnx").write_bytes(b"not read")
    done = subprocess.run(
        [python, str(SCRIPT), "--model", str(tmp_path / "model.onnx"), "--inputs", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    assert done.returncode == board_script.EXIT_MISSING
    assert result["ok"] is False and "numpy, onnxruntime" in result["error"]
    assert result["install"].endswith("-m pip install numpy onnxruntime")


@pytest.mark.parametrize("count", [1, 2, 7, 100])
def test_percentiles_agree_with_numpy_and_the_host(count: int) -> None:
    values = list(np.random.default_rng(count).exponential(3.0, count))
    board = board_script.summarize(values)
    host = stats.summarize(values)
    for q in (50, 90, 95, 99):
        expected = float(np.percentile(values, q))
        assert board[f"p{q}"] == pytest.approx(expected)
        assert host[f"p{q}"] == pytest.approx(expected)
    assert board["std"] == pytest.approx(float(np.std(values)))
    assert host["std"] == pytest.approx(board["std"])
    assert (board["min"], board["max"]) == (min(values), max(values))


def test_spread_and_change() -> None:
    assert stats.spread([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)
    assert stats.change(11.0, 10.0) == pytest.approx(0.1)
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        stats.percentile([], 50)


@pytest.mark.parametrize(
    ("name", "array"),
    [
        ("input_ids", "input_ids"),
        ("serving_default_input_ids:0", "input_ids"),
        ("ids", "input_ids"),
        ("mask", "attention_mask"),
        ("serving_default_attention_mask:0", "attention_mask"),
        ("segment_ids", "token_type_ids"),
    ],
)
def test_model_inputs_are_matched_by_name(name: str, array: str) -> None:
    assert board_script.match_input(name, count=3) == array


def test_an_unknown_input_name_is_an_error() -> None:
    with pytest.raises(board_script.BoardError, match="pixel_values"):
        board_script.match_input("pixel_values", count=2)


def test_feeds_follow_the_models_shape_and_dtype() -> None:
    ids = np.arange(1, 21, dtype=np.int64).reshape(4, 5)
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    specs = [
        {"name": "input_ids", "shape": [1, 8], "dtype": "int32"},
        {"name": "attention_mask", "shape": [1, 8], "dtype": "int32"},
    ]
    feeds = board_script.build_feeds(np, specs, arrays)
    assert len(feeds) == 4
    assert feeds[1]["input_ids"].tolist() == [[6, 7, 8, 9, 10, 0, 0, 0]]  # padded with [PAD]
    assert feeds[1]["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert feeds[0]["input_ids"].dtype == np.int32
    cut = board_script.build_feeds(np, [{"name": "ids", "shape": [2, 3], "dtype": "int64"}], arrays)
    assert [f["ids"].shape for f in cut] == [(2, 3), (2, 3)]


def test_a_missing_model_is_a_json_error(tmp_path: Path) -> None:
    np.save(tmp_path / "input_ids.npy", np.ones((2, 4), dtype=np.int64))
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--model",
            str(tmp_path / "nope.onnx"),
            "--inputs",
            str(tmp_path),
            "--runs",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    assert done.returncode == board_script.EXIT_FAILED
    assert result["ok"] is False and "nope.onnx" in result["error"]
    assert "Traceback" not in done.stdout


def test_memory_reads_proc_status() -> None:
    sample = board_script.memory()
    assert sample["peak"] is not None and sample["peak"] > 0
    if Path("/proc/self/status").is_file():
        assert sample["rss"] is not None and sample["rss"] <= sample["peak"]


def test_throttling_is_a_flag_or_none() -> None:
    flag = board_script.throttling(None)
    assert flag["throttled"] in (True, False, None)
    assert (flag["source"] is None) == (flag["throttled"] is None)
