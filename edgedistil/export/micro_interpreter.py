"""TFLite Micro's interpreter on this host: whether a model runs, and in how small an arena.

Below both the ``.tflite`` conversion (which refuses a file TFLite Micro cannot run: its op list
is not all, kernels exist per type) and the firmware artifacts (which measure the arena).
Every probe runs in a forked child, because with some arenas that are too small TFLite Micro
crashes instead of reporting, and a crash must only mean "too small".
"""

from __future__ import annotations

import faulthandler
import os
import tempfile

import numpy as np

from edgedistil.errors import ExportError

ALIGNMENT = 16  # TFLite Micro's tensor alignment; the flatbuffer's buffers want it too
ARENA_CEILING = 256 << 20  # 256 MiB: above any microcontroller's RAM, PSRAM included


def try_arena(
    data: bytes, arena: int | None, sample: list[np.ndarray], *, invoke: bool = True
) -> str | None:
    """None when TFLite Micro allocates (and invokes) the model in ``arena`` bytes, else why not.

    In a forked child: with some arenas that are too small TFLite Micro crashes (SIGSEGV on a
    4 MB model at 64 KiB) instead of reporting, and a crash must only mean "too small". The
    child's C stdout/stderr, where TFLite Micro reports, go to a file the parent reads."""
    with tempfile.TemporaryFile() as sink:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                # a crash here is an answer ("too small"), not a bug: no traceback from a
                # fault handler (pytest's writes to its own copy of stderr, past the dup2)
                faulthandler.disable()
                os.dup2(sink.fileno(), 1)
                os.dup2(sink.fileno(), 2)
                code = 0 if _invoke(data, arena, sample, invoke) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        sink.seek(0)
        said = sink.read().decode(errors="replace")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    if os.WIFSIGNALED(status):
        lines.append(f"TFLite Micro crashed (signal {os.WTERMSIG(status)})")
    return "; ".join(dict.fromkeys(lines)) or "TFLite Micro failed without a message"


def _invoke(data: bytes, arena: int | None, sample: list[np.ndarray], invoke: bool) -> bool:
    from tflite_micro.python.tflite_micro import runtime  # type: ignore[import-untyped]

    try:
        interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena)
        if not invoke:
            return True
        for index, array in enumerate(sample):
            interpreter.set_input(array, index)
        interpreter.invoke()
    except RuntimeError:
        return False
    return True


def measure_arena(data: bytes, sample: list[np.ndarray]) -> int:
    """The smallest arena (a multiple of 16 bytes) with which TFLite Micro allocates and invokes.

    First the model must run in ``ARENA_CEILING`` bytes: what fails there (an op without a kernel
    for its type, a bad model) is an ``ExportError``. Below that every failure means too small
    an arena, whatever TFLite Micro calls it ("Failed to allocate", or its memory planner's
    "Too many buffers" when the planner's own scratch no longer fits)."""
    check_micro_runs(data, sample)
    # Probes only allocate: TFLite Micro takes every arena byte in AllocateTensors (kernels'
    # Prepare included), none at Invoke; the result is then invoked below and on the eval text.
    high = 64 * 1024
    while try_arena(data, high, sample, invoke=False) is not None:
        high *= 2
    low = 0  # invariant: low fails (or is zero), high runs
    while high - low > ALIGNMENT:
        middle = (low + high) // 2 // ALIGNMENT * ALIGNMENT
        if middle <= low:
            break
        if try_arena(data, middle, sample, invoke=False) is None:
            high = middle
        else:
            low = middle
    why = try_arena(data, high, sample)
    if why is not None:
        raise ExportError(f"TFLite Micro allocates the model in {high:,} bytes but fails: {why}")
    return high


def check_micro_runs(data: bytes, sample: list[np.ndarray] | None = None) -> None:
    """Raise unless TFLite Micro prepares and invokes the model in ``ARENA_CEILING`` bytes."""
    why = try_arena(data, ARENA_CEILING, sample or sample_inputs(data))
    if why is not None:
        raise ExportError(
            f"TFLite Micro cannot run it (even with a {ARENA_CEILING:,}-byte arena): {why}"
        )


def sample_inputs(data: bytes) -> list[np.ndarray]:
    """Ones of each input's shape and type (token 1 = [UNK] or the like, all attended): the
    arena does not depend on the values."""
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    details = Interpreter(model_content=data).get_input_details()
    return [np.ones(tuple(d["shape"]), dtype=d["dtype"]) for d in details]
