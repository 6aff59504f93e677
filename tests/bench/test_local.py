"""The local runner for real (ONNX Runtime and LiteRT on this host), results, history, the CLI."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil.bench import results
from edgedistil.bench.base import Board, Options, make_runner, runner_names
from edgedistil.bench.run import Request, bench
from edgedistil.cli import cli
from edgedistil.errors import BenchError
from edgedistil.teacher import sha256_of
from tests.conftest import error_line

FAST = ["--runs", "5", "--warmup", "1", "--rows", "4"]


def fast(artifact: Path, **kw: object) -> Request:
    return Request(artifact=artifact, runs=5, warmup=1, rows=4, **kw)  # type: ignore[arg-type]


def wrapper(directory: Path, name: str, body: str) -> str:
    """A stand-in for a board's Python: a shell script that misbehaves as told."""
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def onnx_copy(tiny_onnx: Path, tmp_path: Path) -> Path:
    """The tiny ONNX model in a private directory, so its results and history are this test's."""
    for name in ("model.onnx", "vocab.txt"):
        shutil.copyfile(tiny_onnx.parent / name, tmp_path / name)
    return tmp_path / "model.onnx"


def test_local_runs_onnx_for_real(onnx_copy: Path) -> None:
    report = bench(fast(onnx_copy, threads=2, compare=True))
    (board,) = report.boards
    assert board.error is None and board.result is not None
    result = board.result["result"]
    assert result["runtime"]["name"] == "onnxruntime" and result["threads"] == 2
    assert result["runs"] == 5 and result["rows"] == 4
    assert result["inputs"]["input_ids"]["dtype"] == "int64"
    lat = result["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    memory = result["memory"]
    assert memory["peak_rss_bytes"] >= memory["rss_before_load_bytes"] > 0
    assert memory["peak_rss_growth_bytes"] > 0
    facts = result["board"]
    assert (
        facts["cores"] >= 1
        and facts["kernel"]
        and facts["throttling"]["throttled"]
        in (
            True,
            False,
            None,
        )
    )
    assert board.comparison is not None and board.comparison.previous_timestamp is None


@pytest.mark.slow
def test_local_runs_tflite_with_litert(tiny_tflite: Path) -> None:
    report = bench(fast(tiny_tflite, threads=1))
    (board,) = report.boards
    assert board.error is None and board.result is not None
    result = board.result["result"]
    assert result["runtime"]["name"] == "ai-edge-litert"
    assert result["inputs"]["input_ids"] == {"shape": [1, 16], "dtype": "int32"}
    assert result["latency_ms"]["p95"] > 0


def test_results_are_stored_beside_the_artifact_with_its_sha(onnx_copy: Path) -> None:
    first = bench(fast(onnx_copy)).boards[0]
    second = bench(fast(onnx_copy)).boards[0]
    assert first.saved and second.saved and first.saved != second.saved
    assert first.saved.parent == onnx_copy.with_name("model.onnx.bench")
    stored = json.loads(first.saved.read_text())
    assert stored["artifact_sha256"] == sha256_of(onnx_copy)
    assert stored["board"] == "local" and stored["result"]["ok"] is True
    # What it ran on, as the board script read it in the process that ran the model.
    ran_on = stored["ran_on"]
    assert ran_on["runner"] == "local" and ran_on["board"] == "localhost"
    assert ran_on["machine"] == platform.machine() and ran_on["host_is_target"] is False
    assert ran_on["cores"] == os.cpu_count() and ran_on["os"].startswith(platform.system())
    assert ran_on["cpu_model"] == stored["result"]["board"]["cpu_model"]
    history = (first.saved.parent / results.HISTORY).read_text().splitlines()
    assert [json.loads(line)["timestamp"] for line in history] == [
        stored["timestamp"],
        json.loads(second.saved.read_text())["timestamp"],
    ]
    assert not [p for p in first.saved.parent.iterdir() if p.name.endswith(".tmp")]


def _rewrite_history(artifact: Path, p95: float, rss: int) -> None:
    history = results.results_dir(artifact) / results.HISTORY
    entries = [json.loads(line) for line in history.read_text().splitlines()]
    entries[-1]["result"]["latency_ms"]["p95"] = p95
    entries[-1]["result"]["memory"]["peak_rss_bytes"] = rss
    history.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_compare_flags_a_regression_with_exit_3(runner: CliRunner, onnx_copy: Path) -> None:
    assert runner.invoke(cli, ["bench", str(onnx_copy), *FAST]).exit_code == 0
    # The previous run, made impossibly fast and small: this run must read as a regression.
    _rewrite_history(onnx_copy, p95=1e-6, rss=1)
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--compare"])
    assert result.exit_code == 3, result.output
    assert "REGRESSION" in result.stdout and "p95 latency" in result.stdout
    history = (results.results_dir(onnx_copy) / results.HISTORY).read_text().splitlines()
    latest = json.loads(history[-1])["timestamp"]
    again = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--compare", "--json"])
    # Compared with the run stored just now, not with the doctored one before it.
    assert json.loads(again.stdout)["boards"][0]["comparison"]["previous_timestamp"] == latest


def test_compare_within_threshold_passes(runner: CliRunner, onnx_copy: Path) -> None:
    assert runner.invoke(cli, ["bench", str(onnx_copy), *FAST]).exit_code == 0
    _rewrite_history(onnx_copy, p95=1e9, rss=1 << 40)  # the previous run was far worse
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--compare", "--json"])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)["boards"][0]["comparison"]
    assert comparison["regressed"] is False and comparison["changes"]["p95 latency"] < 0


def test_another_artifact_is_not_compared(runner: CliRunner, onnx_copy: Path) -> None:
    assert runner.invoke(cli, ["bench", str(onnx_copy), *FAST]).exit_code == 0
    import onnx

    model = onnx.load(str(onnx_copy))
    model.doc_string = "retrained"  # other bytes, so another sha256
    onnx.save(model, str(onnx_copy))
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--compare"])
    assert result.exit_code == 0 and "no previous run" in result.stdout


def test_cli_table(runner: CliRunner, onnx_copy: Path) -> None:
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime" in result.stdout and "p95 ms" in result.stdout
    assert "Saved " in result.stdout


def test_killed_mid_run_is_one_clear_line(runner: CliRunner, onnx_copy: Path) -> None:
    python = wrapper(onnx_copy.parent, "killed", 'printf "{\\"partial\\": "; kill -9 $$')
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--python", python])
    assert result.exit_code == 1
    assert "killed by signal 9" in error_line(result)


def test_garbage_instead_of_json(runner: CliRunner, onnx_copy: Path) -> None:
    python = wrapper(onnx_copy.parent, "garbage", "echo 'Hello from a board'")
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--python", python])
    assert result.exit_code == 1
    line = error_line(result)
    assert "returned no JSON result" in line and "Hello from a board" in line


def test_json_that_is_not_a_result(runner: CliRunner, onnx_copy: Path) -> None:
    python = wrapper(onnx_copy.parent, "other", 'echo \'{"ok": true, "hello": 1}\'')
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--python", python])
    assert result.exit_code == 1
    assert "not a benchmark result" in error_line(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--runner", "sssh"], 'Unknown runner "sssh"; known: adb, local, qemu, ssh'),
        (["--target", "cortex-m7"], "try --runner local"),
        (["--target", "raspberry-pi-4"], "set EDGEDISTIL_PI4_HOST"),
        (["--board", "pi@host"], "with the local runner"),
        (["--runner", "ssh", "--board", "pi@host;rm -rf /"], "is not user@host[:port]"),
        (["--runner", "ssh", "--board", "-oProxyCommand=x"], "is not user@host[:port]"),
        (["--cpus", "0-x"], "--cpus '0-x'"),
        (["--tokenizer", "/nonexistent"], "no tokenizer files there"),
        (["--host-is-target", "--target", "esp32-s3", "--runner", "local"], "is xtensa-lx7"),
        (["--host-is-target", "--runner", "ssh", "--board", "pi@h"], "needs --runner local"),
    ],
)
def test_bad_input_is_one_line(
    runner: CliRunner,
    onnx_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    expected: str,
) -> None:
    monkeypatch.delenv("EDGEDISTIL_PI4_HOST", raising=False)
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, *args])
    assert result.exit_code == 1, result.output
    assert expected in error_line(result)


def test_an_artifact_that_is_not_a_model(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    result = runner.invoke(cli, ["bench", str(tmp_path / "notes.txt")])
    assert result.exit_code == 1 and ".onnx, .tflite" in error_line(result)
    result = runner.invoke(cli, ["bench", str(tmp_path / "missing.onnx")])
    assert result.exit_code == 1 and "does not exist" in error_line(result)


def test_empty_text_is_an_error(runner: CliRunner, onnx_copy: Path) -> None:
    (onnx_copy.parent / "empty.txt").write_text("\n\n")
    result = runner.invoke(
        cli, ["bench", str(onnx_copy), "--text", str(onnx_copy.parent / "empty.txt")]
    )
    assert result.exit_code == 1 and "no examples (the file is empty" in error_line(result)


def test_the_registry_lists_and_builds_runners() -> None:
    assert runner_names() == ["adb", "local", "qemu", "ssh"]
    assert make_runner("local", Options()).name == "local"
    with pytest.raises(BenchError, match="known: adb, local, qemu, ssh"):
        make_runner("serial", Options())


def test_a_model_larger_than_memory_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.onnx"
    with huge.open("wb") as fh:
        fh.truncate(1 << 40)  # sparse: a tebibyte that takes no disk
    runner = make_runner("local", Options())
    from edgedistil.bench.base import Job

    if not Path("/proc/meminfo").is_file():
        pytest.skip("no /proc/meminfo on this host to compare with")
    job = Job(model=huge, inputs=tmp_path, runs=1, warmup=0, threads=1)
    with pytest.raises(BenchError, match="exceeds the board's available memory"):
        runner.run(job, Board(label="local", runner="local"))


def test_default_text_is_found_beside_the_package() -> None:
    from edgedistil.bench.inputs import default_text

    text = default_text()
    assert text is not None and text.name == "sentences.txt"


def test_heavy_modules_are_not_imported_by_the_cli() -> None:
    import subprocess

    code = (
        "import json, sys, edgedistil.cli;"
        "print(json.dumps([m for m in ('onnxruntime', 'tokenizers') if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_pinning_to_one_cpu(onnx_copy: Path) -> None:
    (board,) = bench(fast(onnx_copy, threads=1, cpus="0")).boards
    assert board.result is not None, board.error
    result = board.result["result"]
    assert result["cpus"] == [0] and result["board"]["cpus_allowed"] == 1


def test_more_threads_than_host_cores_are_capped_with_a_warning(
    runner: CliRunner, onnx_copy: Path
) -> None:
    import os

    asked = (os.cpu_count() or 1) + 2
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--threads", str(asked), "--json"])
    assert result.exit_code == 0, result.output
    assert f"{asked} threads asked for (--threads) but this host has" in result.stderr
    [board] = json.loads(result.stdout)["boards"]
    assert board["result"]["result"]["threads"] == os.cpu_count()


def test_host_is_target_is_recorded_in_the_result(runner: CliRunner, onnx_copy: Path) -> None:
    result = runner.invoke(cli, ["bench", str(onnx_copy), *FAST, "--host-is-target", "--json"])
    assert result.exit_code == 0, result.output
    ran_on = json.loads(result.stdout)["boards"][0]["result"]["ran_on"]
    assert ran_on["host_is_target"] is True and ran_on["runner"] == "local"
