"""The adb runner against a test double at the ``adb`` command boundary.

No Android device exists here, so a fake ``adb`` executable, first on PATH, stands in for the
real one: ``push``, ``pull`` and ``shell`` act on a local directory that plays the device's
file system (``/data/local/tmp`` is mapped into it), and ``shell`` runs the script with the
host's ``sh`` and a PATH holding only a few toybox-like tools (plus ``python3`` when the case
wants a device with Python). Everything on the edgedistil side of that boundary is real: the
commands, the quoting, the preflight, the upload, the parsing and the cleanup.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgedistil.bench.base import Board, Job, Options, make_runner
from edgedistil.bench.inputs import tokenize, write_inputs
from edgedistil.bench.litert_tool import parse_tool_output
from edgedistil.cli import cli
from edgedistil.errors import BenchError
from tests.conftest import error_line

SERIAL = "emulator-5554"
TOOLS = ("sh", "mktemp", "df", "grep", "rm", "cat", "ls", "wc", "sed", "uname", "chmod", "sleep")

FAKE_ADB = '''#!{python}
"""A test double for adb: a local directory plays the device."""
import os, shutil, subprocess, sys

root = os.environ["FAKE_DEVICE_ROOT"]
args = sys.argv[1:]
if args[:1] == ["-s"]:
    if args[1] != os.environ["FAKE_DEVICE_SERIAL"]:
        sys.exit(print(f"adb: device '{{args[1]}}' not found", file=sys.stderr) or 1)
    args = args[2:]
with open(os.path.join(root, "adb.log"), "a") as log:
    log.write(repr(args) + "\\n")


def on_host(path):
    return root + path


if args[0] == "push":
    *sources, target = args[1:]
    for source in sources:
        shutil.copy(source, os.path.join(on_host(target), os.path.basename(source)))
    print(f"{{len(sources)}} files pushed")
elif args[0] == "pull":
    try:
        shutil.copy(on_host(args[1]), args[2])
    except OSError as exc:
        sys.exit(print(f"adb: error: {{exc}}", file=sys.stderr) or 1)
elif args[0] == "shell":
    script = " ".join(args[1:])
    for prefix in ("/data/local/tmp", "/system/bin"):
        script = script.replace(prefix, root + prefix)
    env = {{"PATH": root + "/system/bin"}}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, cwd=root)
    sys.stdout.write(done.stdout.replace(root, ""))
    sys.stderr.write(done.stderr.replace(root, ""))
    sys.exit(done.returncode)
else:
    sys.exit(print(f"fake adb: unsupported {{args}}", file=sys.stderr) or 1)
'''

# What LiteRT's benchmark_model prints (recent versions add p5/median/p95), in microseconds.
RUNNING = (
    "INFO: Running benchmark for at least {n} iterations and at least 0 seconds but terminate "
    "if exceeding 150 seconds."
)
TOOL_OUTPUT = "\n".join(
    [
        "INFO: STARTING!",
        "INFO: Num threads: [{threads}]",
        "INFO: Graph: [model.tflite]",
        "INFO: #threads used for CPU inference: [{threads}]",
        "INFO: Loaded model model.tflite",
        "INFO: The input model file size (MB): 0.009244",
        "INFO: Initialized session in 3.21ms.",
        RUNNING.replace("{n}", "1"),
        "INFO: count=2 first=912 curr=455 min=455 max=912 avg=683.5 std=228 p5=455 median=912 "
        "p95=912",
        "",
        RUNNING.replace("{n}", "5"),
        "INFO: count=5 first=420 curr=410 min=400 max=480 avg=424 std=29 p5=400 median=415 p95=480",
        "",
        "INFO: Inference timings in us: Init: 3210, First inference: 912, Warmup (avg): 683.5, "
        "Inference (avg): 424",
        "INFO: Note: as the benchmark tool itself affects memory footprint, the following is only "
        "APPROXIMATE to the actual memory footprint of the model at runtime.",
        "INFO: Memory footprint delta from the start of the tool (MB): init=1.5 overall=2.25",
        "INFO: Overall peak memory footprint (MB) via periodic monitoring: 7.5",
        "",
    ]
)

FAKE_TOOL = '''#!{python}
"""A stand-in for benchmark_model: checks the flags and input files, prints real-format output."""
import os, sys

flags = dict(a[2:].split("=", 1) for a in sys.argv[1:])
assert os.path.isfile(flags["graph"]), flags
names = flags["input_layer"].split(",")
shapes = [[int(d) for d in s.split(",")] for s in flags["input_layer_shape"].split(":")]
files = dict(item.split(":", 1) for item in flags["input_layer_value_files"].split(","))
for name, shape in zip(names, shapes):
    size = os.path.getsize(files[name])
    if size != shape[0] * shape[1] * 4:  # int32 token ids
        sys.exit(print(f"ERROR: {{files[name]}} has {{size}} bytes", file=sys.stderr) or 1)
sys.stdout.write({output!r}.format(threads=flags["num_threads"]))
'''


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake device's file system, with the fake adb first on PATH."""
    root = tmp_path / "device"
    (root / "data" / "local" / "tmp").mkdir(parents=True)
    bin_dir = root / "system" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    host_bin = tmp_path / "host-bin"
    host_bin.mkdir()
    _executable(host_bin / "adb", FAKE_ADB.format(python=sys.executable))
    monkeypatch.setenv("PATH", f"{host_bin}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DEVICE_ROOT", str(root))
    monkeypatch.setenv("FAKE_DEVICE_SERIAL", SERIAL)
    return root


def _executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def give_python(device: Path) -> None:
    _executable(device / "system" / "bin" / "python3", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')


def device_tmp(device: Path) -> list[Path]:
    return list((device / "data" / "local" / "tmp").iterdir())


def make_job(model: Path, tmp_path: Path, threads: int = 2) -> Job:
    arrays = tokenize(model.parent, ["set a timer", "the watch battery is low"], 16)
    directory = tmp_path / "inputs"
    directory.mkdir(exist_ok=True)
    return Job(
        model=model, inputs=write_inputs(arrays, directory), runs=5, warmup=1, threads=threads
    )


@pytest.mark.slow
def test_device_python_runs_the_board_script(
    device: Path, tiny_tflite: Path, tmp_path: Path
) -> None:
    give_python(device)
    result = make_runner("adb", Options()).run(
        make_job(tiny_tflite, tmp_path), Board(label="watch", runner="adb", address=SERIAL)
    )
    assert result["ok"] is True and result["runtime"]["name"] == "ai-edge-litert"
    assert result["threads"] == 2 and result["latency_ms"]["p95"] > 0
    assert device_tmp(device) == []
    log = (device / "adb.log").read_text()
    assert "'push'" in log and "'pull'" in log and "/data/local/tmp/edgedistil." in log


@pytest.mark.slow
def test_benchmark_model_without_python(device: Path, tiny_tflite: Path, tmp_path: Path) -> None:
    tool = _executable(
        tmp_path / "benchmark_model", FAKE_TOOL.format(python=sys.executable, output=TOOL_OUTPUT)
    )
    runner = make_runner("adb", Options(benchmark_model=tool))
    result = runner.run(make_job(tiny_tflite, tmp_path, threads=3), Board(label="w", runner="adb"))
    assert result["runtime"]["name"] == "litert benchmark_model" and result["threads"] == 3
    lat = result["latency_ms"]
    assert (lat["min"], lat["p50"], lat["p95"], lat["max"]) == (0.4, 0.415, 0.48, 0.48)
    assert lat["mean"] == pytest.approx(0.424) and lat["p99"] is None
    assert result["runs"] == 5 and result["load_ms"] == pytest.approx(3.21)
    assert result["memory"]["peak_rss_bytes"] == int(7.5 * (1 << 20))
    assert result["memory"]["peak_rss_growth_bytes"] == int(2.25 * (1 << 20))
    assert result["inputs"]["input_ids"] == {"shape": [1, 16], "dtype": "int32"}
    assert result["board"]["kernel"] and result["board"]["system"] == "Android"
    assert device_tmp(device) == []


@pytest.mark.slow
def test_neither_python_nor_benchmark_model(
    device: Path, tiny_tflite: Path, tmp_path: Path
) -> None:
    with pytest.raises(BenchError, match="no python3 on its PATH.*--benchmark-model"):
        make_runner("adb", Options()).run(
            make_job(tiny_tflite, tmp_path), Board(label="w", runner="adb")
        )
    assert device_tmp(device) == []


def test_benchmark_model_only_runs_tflite(device: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    tool = _executable(tmp_path / "benchmark_model", "#!/bin/sh\nexit 0\n")
    with pytest.raises(BenchError, match="runs .tflite files"):
        make_runner("adb", Options(benchmark_model=tool)).run(
            make_job(tiny_onnx, tmp_path), Board(label="w", runner="adb")
        )
    assert device_tmp(device) == []


@pytest.mark.slow
def test_an_unknown_serial(runner: CliRunner, device: Path, tiny_tflite: Path) -> None:
    args = ["bench", str(tiny_tflite), "--runner", "adb", "--board", "R58M123", "--runs", "2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    line = error_line(result)
    assert "adb-R58M123" in line and "device 'R58M123' not found" in line


@pytest.mark.slow
def test_no_adb_on_path(
    runner: CliRunner, tiny_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = runner.invoke(cli, ["bench", str(tiny_tflite), "--runner", "adb", "--runs", "2"])
    assert result.exit_code == 1 and "adb is not on PATH" in error_line(result)


@pytest.mark.slow
def test_cli_with_the_watch_profile(
    runner: CliRunner, device: Path, tiny_tflite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_python(device)
    monkeypatch.setenv("EDGEDISTIL_WATCH_SERIAL", SERIAL)
    args = ["bench", str(tiny_tflite), "--target", "wear-os-watch", "--runs", "3", "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["boards"]
    assert entry["board"] == f"adb-{SERIAL}" and entry["runner"] == "adb"
    assert entry["result"]["result"]["threads"] == 2  # the watch profile's [bench].threads
    assert device_tmp(device) == []


def test_tool_output_without_percentiles() -> None:
    older = "count=50 first=1 curr=2 min=1000 max=3000 avg=2000 std=100\n" + (
        "Inference timings in us: Init: 5000, First inference: 9000, Warmup (avg): 1, "
        "Inference (avg): 2000\n"
    )
    parsed = parse_tool_output(older)
    assert parsed["latency_ms"]["p95"] is None and parsed["latency_ms"]["max"] == 3.0
    assert parsed["memory"]["peak_rss_bytes"] is None
    with pytest.raises(ValueError):
        parse_tool_output("Segmentation fault")


@pytest.mark.slow
def test_text_mode_on_a_device_with_python_and_with_benchmark_model_only(
    device: Path, tiny_tflite: Path, tmp_path: Path
) -> None:
    """With Python the device tokenises the text itself; benchmark_model cannot, and says so."""
    from edgedistil.bench.inputs import check_tokenized, digests, write_text

    lines = ["set a timer", "the watch battery is low"]
    arrays = tokenize(tiny_tflite.parent, lines, 16)
    directory = tmp_path / "inputs"
    directory.mkdir()
    write_inputs(arrays, directory)
    name = write_text(lines, tiny_tflite.parent, directory)
    job = Job(
        model=tiny_tflite,
        inputs=directory,
        runs=5,
        warmup=1,
        threads=1,
        text=name,
        sequence_length=16,
    )
    tool = _executable(
        tmp_path / "benchmark_model", FAKE_TOOL.format(python=sys.executable, output=TOOL_OUTPUT)
    )
    board = Board(label="watch", runner="adb", address=SERIAL)
    result = make_runner("adb", Options(benchmark_model=tool)).run(job, board)
    assert result["tokenize"]["measured"] is False
    assert "benchmark_model" in result["tokenize"]["reason"]
    give_python(device)
    result = make_runner("adb", Options()).run(job, board)
    checked = check_tokenized("watch", result, digests(arrays))
    assert checked["tokenize"]["measured"] is True and checked["tokenize"]["ids_match_host"] == 2
    assert device_tmp(device) == []
