"""The ``adb`` runner: an Android phone or watch, through the system ``adb``.

Everything goes to a private directory under /data/local/tmp (the one place ``adb push`` may
write without root), removed afterwards even on failure. With a Python on the device (Termux,
or a vendor image that has one) the board script runs as on any board; without one, LiteRT's
``benchmark_model`` binary runs the .tflite when the user gives its path (--benchmark-model),
and its printout becomes the same JSON.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from edgedistil.bench.base import (
    SCRIPT_NAME,
    Board,
    Job,
    Runner,
    Workspace,
    check_room,
    cleanup_script,
    input_files,
    last_line,
    parse_preflight,
    preflight_script,
    python_words,
    read_result,
    remote_model_name,
    script_args,
    stage_files,
)
from edgedistil.bench.litert_tool import parse_tool_output, tool_flags, tool_inputs
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)

DEVICE_TMP = "/data/local/tmp"
_STEP_S = 120.0
_PUSH_S = 1800.0
_GRACE_S = 60.0
_RC = "@@rc="  # adb before Android 7 drops the exit status; the script prints its own
_FACTS = r"""
echo "@@device_model=$(getprop ro.product.model 2>/dev/null)"
echo "@@kernel=$(uname -r)"
echo "@@machine=$(uname -m)"
echo "@@cores=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l)"
grep -m1 -E '^(Hardware|model name|CPU part)' /proc/cpuinfo | sed 's/^[^:]*: */@@cpu_model=/'
for p in /sys/devices/system/cpu/cpufreq/policy*; do
  echo "@@freq=$(cat "$p/scaling_max_freq" 2>/dev/null) $(cat "$p/cpuinfo_max_freq" 2>/dev/null)"
done
"""


class AdbRunner(Runner):
    def run(self, job: Job, board: Board) -> dict[str, Any]:
        wanted = board.python or self.options.python
        space = parse_preflight(board, self._shell(board, preflight_script(DEVICE_TMP, True))[0])
        try:
            python = wanted or space.python
            if python:
                return self._run_script(job, board, space, python)
            if self.options.benchmark_model is not None:
                return self._run_tool(job, board, space, self.options.benchmark_model)
            raise BenchError(
                f"Board {board.label}: the device has no python3 on its PATH and no "
                "--benchmark-model PATH was given; push LiteRT's benchmark_model with "
                "--benchmark-model, or install Python there (e.g. Termux) and give --python"
            )
        finally:
            self._cleanup(board, space.path)

    # ---- adb itself ----

    def _adb(
        self, board: Board, args: list[str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        adb = shutil.which("adb")
        if adb is None:
            raise BenchError(
                f"Board {board.label}: adb is not on PATH; install Android platform-tools "
                "(Debian: apt-get install adb)"
            )
        argv = [adb, *(["-s", board.address] if board.address else []), *args]
        log.info("%s: %s", board.label, shlex.join(argv))
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"Board {board.label}: adb {args[0]} took longer than {timeout:g} s and was "
                "stopped; check the device's connection (adb devices)"
            ) from None

    def _shell(self, board: Board, script: str, timeout: float = _STEP_S) -> tuple[str, int]:
        """stdout and exit status of ``script`` run by the device's sh."""
        done = self._adb(board, ["shell", f"{script}\necho {_RC}$?"], timeout)
        out, _, status = done.stdout.replace("\r\n", "\n").rpartition(_RC)
        if not status.strip().isdigit():
            raise BenchError(
                f"Board {board.label}: adb shell failed (exit {done.returncode}): "
                f"{last_line(done.stderr) or last_line(done.stdout) or 'no output'}; "
                "check adb devices and the serial"
            )
        return out, int(status.strip())

    def _push(self, board: Board, files: list[Path], directory: str) -> None:
        done = self._adb(board, ["push", *[str(p) for p in files], directory + "/"], _PUSH_S)
        if done.returncode != 0:
            raise BenchError(
                f"Board {board.label}: adb push to {directory} failed: "
                f"{last_line(done.stderr) or last_line(done.stdout)}; check the free space there"
            )

    def _cleanup(self, board: Board, directory: str) -> None:
        try:
            self._shell(board, cleanup_script(directory))
        except BenchError as exc:
            log.warning("%s: could not remove %s on the device: %s", board.label, directory, exc)

    # ---- with the device's Python ----

    def _run_script(self, job: Job, board: Board, space: Workspace, python: str) -> dict[str, Any]:
        _check(board, space, job)
        with tempfile.TemporaryDirectory(prefix="edgedistil-stage-") as stage:
            self._push(board, stage_files(job, Path(stage)), space.path)
            args = script_args(job, remote_model_name(job.model), ".", output="result.json")
            # TMPDIR: the runtime's own temporary files (onnxruntime's .ses) leave with the dir.
            command = f"TMPDIR={shlex.quote(space.path)} " + shlex.join(
                [*python_words(python), SCRIPT_NAME, *args]
            )
            out, status = self._shell(board, _in_dir(space.path, command), job.timeout_s + _GRACE_S)
            pulled = Path(stage) / "result.json"
            self._adb(board, ["pull", f"{space.path}/result.json", str(pulled)], _STEP_S)
            # The pulled file is the clean copy (old adb mangles stdout); else stdout.
            text = pulled.read_text(encoding="utf-8") if pulled.is_file() else out
            return read_result(board, text, "", status)

    # ---- with LiteRT's benchmark_model ----

    def _run_tool(self, job: Job, board: Board, space: Workspace, tool: Path) -> dict[str, Any]:
        import numpy as np

        if job.model.suffix.lower() != ".tflite":
            raise BenchError(
                f"Board {board.label}: benchmark_model runs .tflite files, not {job.model.name}; "
                "bench the .tflite artifact, or install Python and onnxruntime on the device"
            )
        _check(board, space, job, extra=tool.stat().st_size)
        arrays = {p.stem: np.load(p) for p in job.inputs.glob("*.npy")}
        with tempfile.TemporaryDirectory(prefix="edgedistil-stage-") as stage:
            inputs = tool_inputs(job.model, arrays, Path(stage))
            model = Path(stage) / "model.tflite"
            shutil.copyfile(job.model, model)
            binary = Path(stage) / "benchmark_model"
            shutil.copyfile(tool, binary)
            files = [model, binary, *[Path(stage) / str(i["file"]) for i in inputs]]
            self._push(board, files, space.path)
        flags = tool_flags("model.tflite", inputs, job.threads, job.runs, job.warmup)
        command = "chmod 755 benchmark_model && " + shlex.join(["./benchmark_model", *flags])
        out, status = self._shell(
            board, _in_dir(space.path, command + " 2>&1"), job.timeout_s + _GRACE_S
        )
        if status != 0:
            raise BenchError(
                f"Board {board.label}: benchmark_model exited {status}: {last_line(out)}"
            )
        facts, _ = self._shell(board, _FACTS)
        result = _tool_result(board, job, out, facts, inputs)
        if job.text:  # the native tool has no tokenizer: the host's ids were fed
            reason = "benchmark_model (no Python on the device) feeds ids and times inference only"
            result["tokenize"] = {"measured": False, "reason": reason}
        return result


def _check(board: Board, space: Workspace, job: Job, extra: int = 0) -> None:
    model_bytes = job.model.stat().st_size
    upload = model_bytes + extra + sum(p.stat().st_size for p in input_files(job))
    check_room(board, space, upload, model_bytes)


def _in_dir(directory: str, command: str) -> str:
    # Signals (adb dropped, Ctrl-C) clean up on the device; a normal end leaves result.json
    # for the pull, and the finally step removes the directory.
    quoted = shlex.quote(directory)
    return "\n".join(
        [
            f"trap 'rm -rf -- {quoted}; exit 129' HUP INT TERM",
            f"cd {quoted} || exit 97",
            command,
        ]
    )


def _tool_result(
    board: Board, job: Job, out: str, facts: str, inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    try:
        parsed = parse_tool_output(out)
    except ValueError as exc:
        raise BenchError(
            f"Board {board.label}: benchmark_model printed no timings ({exc}): "
            f"{last_line(out)!r}; is it LiteRT's benchmark_model for this device's ABI?"
        ) from None
    values = dict(
        line.removeprefix("@@").split("=", 1) for line in facts.splitlines() if "=" in line
    )
    freqs = [line.split("=", 1)[1].split() for line in facts.splitlines() if "@@freq=" in line]
    capped = [int(a) < int(b) for a, b in (f for f in freqs if len(f) == 2)]
    result = {
        "schema": 1,
        "ok": True,
        "model": job.model.name,
        "model_bytes": job.model.stat().st_size,
        "runtime": {"name": "litert benchmark_model", "module": None, "version": None},
        "cpus": None,
        "warmup": job.warmup,
        "inputs": {i["name"]: {"shape": i["shape"], "dtype": i["dtype"]} for i in inputs},
        "rows": 1,
        "import_ms": None,
        "board": {
            "cpu_model": values.get("cpu_model") or None,
            "device_model": values.get("device_model") or None,
            "cores": int(values["cores"]) if values.get("cores", "").isdigit() else None,
            "kernel": values.get("kernel") or None,
            "machine": values.get("machine") or None,
            "system": "Android",
            "python": None,
            "throttling": {
                "throttled": any(capped) if capped else None,
                "source": "cpufreq scaling_max_freq" if capped else None,
                "detail": json.dumps(freqs),
            },
        },
        **parsed,
    }
    result["threads"] = parsed["threads"] or job.threads
    return result
