"""The edgedistil command keeps TensorFlow's native start-up lines off stderr, and only those."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import os, sys
from edgedistil.cli._stderr import native_noise_filtered
with native_noise_filtered():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                b"written to STDERR\n")
    os.write(2, b"I0000 00:00:1795659475.258999   19866 port.cc:153] oneDNN custom "
                b"operations are on.\n")
    os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"E0000 00:00:1795659475.258999   19866 interpreter.cc:9] a real native error\n")
    print("Warning: 12% of the tokens are [UNK]", file=sys.stderr)
    os.write(2, b"no newline at the end")
print("stdout untouched")
"""


def test_only_native_noise_is_dropped() -> None:
    env = {k: v for k, v in os.environ.items() if k != "EDGEDISTIL_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout == "stdout untouched\n"
    assert done.stderr.splitlines() == [
        "E0000 00:00:1795659475.258999   19866 interpreter.cc:9] a real native error",
        "Warning: 12% of the tokens are [UNK]",
        "no newline at the end",
    ]


def test_debug_leaves_stderr_alone() -> None:
    env = {**os.environ, "EDGEDISTIL_DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert "oneDNN custom operations" in done.stderr and "fully_quantize" in done.stderr


def test_native_code_holding_the_gil_can_write_half_a_megabyte() -> None:
    # PyDLL keeps the GIL during the call, as C++ logging inside a converter call may: with a
    # 64 KiB pipe the forwarder could never drain it and the write would hang for ever
    import fcntl

    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pytest.skip("this system does not allow a 1 MiB pipe (fs.pipe-max-size)")
    finally:
        os.close(read_end)
        os.close(write_end)
    script = (
        "import ctypes\n"
        "from edgedistil.cli._stderr import native_noise_filtered\n"
        "line = b'x' * 99 + b'\\n'\n"
        "with native_noise_filtered():\n"
        "    ctypes.PyDLL(None).write(2, line * 5000, len(line) * 5000)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EDGEDISTIL_DEBUG"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=60)
    assert done.returncode == 0 and len(done.stderr) == 500_000
