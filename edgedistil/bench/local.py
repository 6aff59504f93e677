"""The ``local`` runner: the board script on this host, in a fresh process.

A fresh process, not this one, so that its peak RSS is the model's and not edgedistil's. The
profile's thread count (and ``--cpus`` pinning) approximates the target on a bigger machine.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgedistil.bench.base import (
    SCRIPT,
    Board,
    Job,
    Runner,
    Workspace,
    check_room,
    python_words,
    read_result,
    script_args,
)
from edgedistil.errors import BenchError

log = logging.getLogger(__name__)
_GRACE_S = 30.0  # the script stops itself at --timeout; this covers a stuck model load


class LocalRunner(Runner):
    def run(self, job: Job, board: Board) -> dict[str, Any]:
        model_bytes = job.model.stat().st_size
        space = Workspace(path=str(job.inputs), free_disk_bytes=None, available_memory_bytes=None)
        check_room(board, _with_memory(space), model_bytes, model_bytes)
        python = board.python or self.options.python
        command = [*(python_words(python) if python else [sys.executable]), str(SCRIPT)]
        command += script_args(job, str(job.model.resolve()), str(job.inputs))
        log.info("local: %s", shlex.join(command))
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=job.timeout_s + _GRACE_S,
                stdin=subprocess.DEVNULL,
                # The runtime's temporary files (onnxruntime's .ses) go to the inputs' own
                # temporary directory, which is removed after the run.
                env={**os.environ, "TMPDIR": str(job.inputs)},
            )
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"Board {board.label}: the benchmark ran past {job.timeout_s:g} s and was "
                "stopped; fewer --runs or a larger --timeout"
            ) from None
        except OSError as exc:
            raise BenchError(
                f"Board {board.label}: cannot start {command[0]}: {exc.strerror}; check --python"
            ) from None
        return read_result(board, done.stdout, done.stderr, done.returncode)


def _with_memory(space: Workspace) -> Workspace:
    """The workspace with this host's MemAvailable, where /proc/meminfo tells it."""
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return space
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            kib = int(line.split()[1])
            return Workspace(
                path=space.path, free_disk_bytes=None, available_memory_bytes=kib * 1024
            )
    return space
