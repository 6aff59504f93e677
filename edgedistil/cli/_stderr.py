"""TensorFlow's and LiteRT's native start-up lines, kept off the user's terminal.

They are written by C++ straight to file descriptor 2 (absl's "WARNING: All log messages
before absl::InitializeLog()", oneDNN's and XNNPACK's INFO lines, the converter's
"fully_quantize: ..."), so neither TF_CPP_MIN_LOG_LEVEL nor Python's logging reaches all of
them. The ``edgedistil`` command therefore points fd 2 at a pipe and forwards every line except
those, as it arrives; errors (absl's E and F lines) and everything Python writes pass through.
EDGEDISTIL_DEBUG=1 leaves stderr alone.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "  # absl INFO and WARNING lines
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate"
    rb"|INFO: Initialized TensorFlow Lite runtime"
    rb"|fully_quantize: \d+, inference_type: )"
)


@contextmanager
def native_noise_filtered() -> Iterator[None]:
    if os.environ.get("EDGEDISTIL_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):  # no fd 2 to speak of (embedded interpreters): leave it
        yield
        return
    read_end, write_end = os.pipe()
    _widen(write_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, terminal), daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # the pipe's last writer closes: the forwarder drains and ends
        forwarder.join(timeout=5)
        os.close(terminal)


def _widen(pipe: int) -> None:
    """A 1 MiB pipe where Linux allows it (64 KiB by default): native code that writes to
    stderr while holding the GIL must not fill the pipe before the forwarder can run."""
    try:
        import fcntl

        fcntl.fcntl(pipe, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass  # another OS, or a lower limit: the default size


def _forward(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pending = b""
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not NOISE.match(line):
                    os.write(terminal, line + b"\n")
        if pending and not NOISE.match(pending):
            os.write(terminal, pending)
